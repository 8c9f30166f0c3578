/**
 * A small, bounded HTTP/1.1 server on any vsock-bridge address (the credential endpoint and
 * `/metrics`). node:http parses; the sockets come from vsock-bridge so the endpoint can sit on
 * vsock, unix or tcp. Header size, header/request time and connection count are all capped.
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
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
  // node:http enforces headersTimeout and requestTimeout only on a server that listen()s itself
  // (its connection tracking starts on 'listening'); these sockets are handed in, so a client
  // dripping one header byte at a time would hold its slot forever. The deadline is kept here:
  // the next request must arrive within requestTimeout of the connection or of the last response.
  const deadlines = new WeakMap<Socket, { timer: NodeJS.Timeout | undefined; pending: number }>()
  const arm = (socket: Socket): void => {
    const d = deadlines.get(socket)
    if (d === undefined || socket.destroyed) return
    clearTimeout(d.timer)
    d.timer = d.pending === 0 ? setTimeout(() => socket.destroy(), requestTimeout) : undefined
  }
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const d = deadlines.get(req.socket)
    if (d === undefined) return
    d.pending++
    arm(req.socket)
    res.once('close', () => {
      d.pending--
      arm(req.socket)
    })
  })
  server.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
    else socket.destroy()
  })
  const listener = await listen(address, (socket) => {
    deadlines.set(socket, { timer: undefined, pending: 0 })
    arm(socket)
    socket.once('close', () => clearTimeout(deadlines.get(socket)?.timer))
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
