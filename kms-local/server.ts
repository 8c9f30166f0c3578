/**
 * The HTTP front end: node:http on any vsock-bridge address (`tcp://`, `unix:`, `vsock://`),
 * bounded bodies (413 before reading past the limit), header/request timeouts, and
 * {@link KmsService} for everything else.
 * @module
 */
import * as http from 'node:http'
import { listen, formatAddress, type Address, type Listener } from '../vsock-bridge/index.js'
import type { KmsService } from './service.js'
import { CONTENT_TYPE } from './service.js'
import { KmsError } from './errors.js'

/** Largest request body accepted: a 262144-byte attestation document is ~350 KiB in base64. */
export const MAX_BODY_BYTES = 1024 * 1024

export interface KmsServer {
  /** The bound address (port resolved). */
  readonly address: Address
  /** `http://127.0.0.1:<port>` for TCP listeners; the unix/vsock address otherwise. */
  readonly endpoint: string
  close(): Promise<void>
}

function tooLarge(res: http.ServerResponse): void {
  const err = new KmsError('RequestEntityTooLargeException', `Request body larger than ${MAX_BODY_BYTES} bytes`)
  res.writeHead(err.status, { 'content-type': CONTENT_TYPE, 'x-amzn-errortype': err.type, connection: 'close' })
  res.end(JSON.stringify(err.body()))
}

/** Starts serving `service` on `address` (e.g. `tcp://127.0.0.1:0`). */
export async function serve(service: KmsService, address: string | Address, opts: { maxBodyBytes?: number } = {}): Promise<KmsServer> {
  const maxBody = opts.maxBodyBytes ?? MAX_BODY_BYTES
  const server = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5_000, maxHeaderSize: 16 * 1024 }, (req, res) => {
    const declared = Number(req.headers['content-length'] ?? '0')
    if (Number.isFinite(declared) && declared > maxBody) {
      tooLarge(res)
      req.destroy()
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    let aborted = false
    req.on('data', (c: Buffer) => {
      if (aborted) return
      size += c.length
      if (size > maxBody) {
        aborted = true
        tooLarge(res)
        req.destroy()
        return
      }
      chunks.push(c)
    })
    req.on('error', () => {
      aborted = true
    })
    req.on('end', () => {
      if (aborted) return
      const body = Buffer.concat(chunks)
      void service.handle({ method: req.method ?? '', url: req.url ?? '/', rawHeaders: req.rawHeaders, body }).then((r) => {
        res.writeHead(r.status, { ...r.headers, 'content-length': String(r.body.length) })
        res.end(r.body)
      })
    })
  })
  server.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n')
    else socket.destroy()
  })
  const listener: Listener = await listen(address, (socket) => server.emit('connection', socket))
  const a = listener.address
  const endpoint = a.kind === 'tcp' ? `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}` : formatAddress(a)
  return {
    address: a,
    endpoint,
    async close() {
      server.closeIdleConnections()
      await listener.close({ graceMs: 1000 })
      server.close()
    },
  }
}
