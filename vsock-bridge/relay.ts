/**
 * `relay(a, b)`: copies bytes both ways between two connected streams until both directions end,
 * forwarding half-closes, with backpressure, and tearing both down on an error.
 * @module
 */
import type { Duplex } from 'node:stream'

/** Bytes moved by {@link relay}. */
export interface RelayStats {
  /** Bytes read from `a` and written to `b`. */
  aToB: number
  /** Bytes read from `b` and written to `a`. */
  bToA: number
  /** The first error seen on either side, if any (both sides were then destroyed). */
  error: Error | undefined
}

/**
 * Relays between `a` and `b`. An `end` on one side becomes `end()` on the other (both sockets
 * need `allowHalfOpen: true` for the reverse direction to keep flowing); an error or reset on
 * either side destroys both. Resolves once both are closed; never rejects.
 *
 * @example
 * ```ts
 * await listen('vsock://any:8000', async (inbound) => {
 *   const upstream = await connect('tcp://127.0.0.1:8443', { allowHalfOpen: true })
 *   await relay(inbound, upstream)
 * }, { allowHalfOpen: true })
 * ```
 */
export function relay(a: Duplex, b: Duplex): Promise<RelayStats> {
  const stats: RelayStats = { aToB: 0, bToA: 0, error: undefined }
  const closed = (s: Duplex): Promise<void> =>
    s.closed ? Promise.resolve() : new Promise<void>((resolve) => s.once('close', () => resolve()))
  const onError = (e: Error): void => {
    stats.error ??= e
    a.destroy()
    b.destroy()
  }
  a.on('error', onError)
  b.on('error', onError)
  a.on('data', (c: Buffer) => {
    stats.aToB += c.length
  })
  b.on('data', (c: Buffer) => {
    stats.bToA += c.length
  })
  // pipe() gives backpressure and turns 'end' into end() on the other side.
  a.pipe(b)
  b.pipe(a)
  // A side that closed before its end-of-stream was destroyed (by its owner or a reset): take the
  // other down too. After a clean end, pipe() has already called end() on the other side, which
  // must be left to flush.
  const aClosed = closed(a).then(() => {
    if (!a.readableEnded) b.destroy()
  })
  const bClosed = closed(b).then(() => {
    if (!b.readableEnded) a.destroy()
  })
  return Promise.all([aClosed, bClosed, closed(a), closed(b)]).then(() => stats)
}
