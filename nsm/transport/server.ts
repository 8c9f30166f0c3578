/**
 * The NSM server: serves an {@link Attester} (normally the simulator) over the NSM protocol on
 * a vsock-bridge address (`unix:/path`, `tcp://host:port`, `vsock://any:port`). Framing: see
 * `framing.ts`. Requests on one connection are answered in order, one at a time; a framing
 * error, more than 16 requests not yet answered (a response counts until the kernel has taken
 * it, so a client that never reads cannot make us buffer without bound), or an idle connection
 * (no complete request for `idleTimeoutMs`, however many bytes trickle in) closes the connection.
 * @module
 */
import type { Socket } from 'node:net'
import { listen, type Listener } from '../../vsock-bridge/index.js'
import { silentLogger, type Logger } from '../../common/log.js'
import { NSM_REQUEST_MAX_SIZE, type Attester } from '../attester.js'
import { handleNsmRequest } from '../handler.js'
import { encodeFrame, FrameReader } from './framing.js'

export interface ServeOptions {
  logger?: Logger
  /** Close a connection that sends no complete request for this long. Default 60 s. */
  idleTimeoutMs?: number
  /** Concurrent connections; more are refused. Default 64. */
  maxConnections?: number
}

/** Requests one connection may have queued (pipelined) before it is dropped. */
export const MAX_PENDING_PER_CONNECTION = 16

function serveConnection(socket: Socket, attester: Attester, log: Logger, idleMs: number): void {
  const reader = new FrameReader(NSM_REQUEST_MAX_SIZE)
  let chain: Promise<void> = Promise.resolve()
  let pending = 0
  // Not socket.setTimeout: any byte resets that, so a client trickling one byte at a time
  // (slowloris) would hold its connection slot forever. Only a complete request (or a flushed
  // answer) resets this.
  const idle = setTimeout(() => socket.destroy(), idleMs)
  const answered = (): void => {
    pending--
    idle.refresh()
  }
  socket.on('close', () => clearTimeout(idle))
  socket.on('error', (e) => log.debug({ err: e.message }, 'NSM connection error'))
  socket.on('data', (chunk: Buffer) => {
    let frames: Uint8Array[]
    try {
      frames = reader.push(chunk)
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'NSM connection: framing error, closing')
      socket.destroy()
      return
    }
    if (frames.length === 0) return
    idle.refresh()
    if (pending + frames.length > MAX_PENDING_PER_CONNECTION) {
      // A client pipelining without reading would make us queue work without bound.
      log.warn({ pending }, 'NSM connection: too many pipelined requests, closing')
      socket.destroy()
      return
    }
    for (const req of frames) {
      pending++
      chain = chain.then(async () => {
        let writing = false
        try {
          if (socket.destroyed) return
          const res = await handleNsmRequest(attester, req, (e) => log.error({ err: e instanceof Error ? e.message : String(e) }, 'NSM request failed unexpectedly'))
          if (!socket.destroyed) {
            // Still pending until flushed: the callback runs once the kernel has the bytes.
            writing = true
            socket.write(encodeFrame(res), answered)
          }
        } finally {
          if (!writing) pending--
        }
      })
    }
  })
  socket.on('end', () => {
    void chain.then(() => socket.end())
  })
}

/** Starts serving; close the returned listener to stop. */
export async function serveNsm(attester: Attester, address: string, opts: ServeOptions = {}): Promise<Listener> {
  const log = opts.logger ?? silentLogger
  const idle = opts.idleTimeoutMs ?? 60_000
  if (!Number.isInteger(idle) || idle < 1 || idle > 2 ** 31 - 1) throw new RangeError('idleTimeoutMs must be an integer in 1..2147483647')
  const listener = await listen(address, (s) => serveConnection(s, attester, log, idle), {
    maxConnections: opts.maxConnections ?? 64,
    onError: (e) => log.warn({ err: e.message }, 'NSM server: accept error'),
  })
  return listener
}
