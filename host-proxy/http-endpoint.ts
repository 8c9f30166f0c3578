/**
 * A small, bounded HTTP/1.1 server on any vsock-bridge address (the credential endpoint and
 * `/metrics`). node:http parses; the sockets come from vsock-bridge so the endpoint can sit on
 * vsock, unix or tcp. Header size, header/request time and connection count are all capped.
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { listen, type Address } from '../vsock-bridge/index.js'

/** A running endpoint. */
export interface HttpEndpoint {
  readonly address: Address
  /** Stops accepting; open keep-alive connections get `graceMs` before being destroyed. */
  close(graceMs?: number): Promise<void>
}

/** Limits for {@link serveHttp}. */
export interface HttpEndpointOptions {
  maxConnections?: number
  /** Whole request (headers and body) must arrive within this. */
  requestTimeoutMs?: number
  onError?: (e: Error) => void
}

/** Serves `handler` on `address`. */
export async function serveHttp(
  address: string,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  opts: HttpEndpointOptions = {},
): Promise<HttpEndpoint> {
  const requestTimeout = opts.requestTimeoutMs ?? 10_000
  const server = createServer({ maxHeaderSize: 8192, requestTimeout, headersTimeout: requestTimeout, keepAliveTimeout: 5_000 }, handler)
  // Idle keep-alive or silent connections must not pin a connection slot forever.
  server.setTimeout(requestTimeout * 3)
  server.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
    else socket.destroy()
  })
  const listener = await listen(address, (socket) => {
    server.emit('connection', socket)
  }, {
    maxConnections: opts.maxConnections ?? 64,
    onError: opts.onError,
  })
  return {
    address: listener.address,
    close: async (graceMs = 0) => {
      server.closeIdleConnections()
      await listener.close({ graceMs })
      server.close()
    },
  }
}
