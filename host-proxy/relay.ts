/**
 * One relayed connection: resolve the allowlisted target, connect with a timeout, then pipe bytes
 * both ways untouched (TLS stays end to end between the enclave and the endpoint).
 *
 * What vsock-proxy got wrong and this does not: a failed upstream connect closes this client
 * only (it panicked a worker there); EOF on one side is propagated as a half-close instead of
 * ending both; connections never wait for a free worker; idle connections time out.
 *
 * Memory per connection is bounded by backpressure. Client -> target goes through `pipe`, which
 * stops reading the client while the target's write buffer is above its high-water mark (one
 * 64 KiB read chunk plus two 16 KiB buffers at most). Target -> client reads into one buffer
 * (16 KiB, then 256 KiB once data flows in bulk) and stops reading until the client has taken
 * it all. A client that never reads therefore holds at most that buffer, and is closed by the
 * idle timeout once nothing moves.
 * @module
 */
import { connect as tcpConnect, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { AllowlistEntry, Target } from './allowlist.js'
import type { IpFamily } from './config.js'
import { ConnectFailedError, ConnectTimeoutError, HostProxyError } from './errors.js'
import type { TargetResolver } from './resolver.js'

/** Read buffer for the target -> client direction once data flows in bulk (fewer syscalls). */
export const READ_BUFFER_BYTES = 256 * 1024
/** The first read buffer of a connection; most KMS answers fit. */
const SMALL_READ_BUFFER_BYTES = 16 * 1024

/** Why a relayed connection ended; a log field and a metric label. */
export type CloseReason =
  | 'done'
  | 'idle_timeout'
  | 'connect_timeout'
  | 'connect_failed'
  | 'resolve_failed'
  | 'address_forbidden'
  | 'client_closed'
  | 'client_error'
  | 'upstream_error'
  | 'shutdown'

/** What a finished relay reports (one log line per connection is built from it). */
export interface RelayResult {
  reason: CloseReason
  /** Bytes received from the client and sent on to the target. */
  bytesIn: number
  /** Bytes received from the target and sent on to the client. */
  bytesOut: number
  durationMs: number
  /** The address actually dialled, when a connect succeeded. */
  upstreamAddress: string | null
  /** A stable code for the failure (`ERR_PROXY_*` or a socket error's code), or null. */
  errorCode: string | null
}

/** The per-connection settings of the route it arrived on. */
export interface RelayRoute {
  readonly target: Target
  readonly ipFamily: IpFamily
  readonly connectTimeoutMs: number
  readonly idleTimeoutMs: number
}

/** A relay in progress. */
export interface RelayHandle {
  /** Settles once both sockets are closed; never rejects. */
  readonly done: Promise<RelayResult>
  /** Ends the relay now (both sockets destroyed) with `reason`. */
  close(reason: CloseReason): void
}

/** A socket-like duplex from vsock-bridge (a net.Socket over vsock, unix or tcp). */
export type ClientStream = Duplex & Partial<Pick<Socket, 'setTimeout' | 'setNoDelay' | 'bytesRead' | 'bytesWritten'>>

function errorCode(e: unknown): string | null {
  if (e instanceof HostProxyError) return e.code
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : null
}

/** Lets the relay cancel a connect in progress when the client goes away. */
interface ConnectAttempt {
  cancelled: boolean
  socket: Socket | null
  /** How the upstream socket reads (see {@link relay}). */
  onread: { buffer: () => Buffer; callback: (n: number, buf: Uint8Array) => boolean }
}

/**
 * Connects to `address:port` within `timeoutMs`. A cancelled attempt destroys its socket.
 * @throws {ConnectTimeoutError} | {ConnectFailedError}
 */
function connectOnce(address: string, port: number, timeoutMs: number, attempt: ConnectAttempt): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: address, port, allowHalfOpen: true, noDelay: true, onread: attempt.onread })
    attempt.socket = s
    let settled = false
    const settle = (err: Error | null): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      s.removeListener('connect', onConnect)
      s.removeListener('error', onError)
      s.removeListener('close', onClose)
      if (err === null) {
        resolve(s)
      } else {
        s.destroy()
        reject(err)
      }
    }
    const onConnect = (): void => settle(null)
    // Destroyed by a cancel (the client went away) before connecting.
    const onClose = (): void => settle(new ConnectFailedError(`connect to ${address} port ${port} cancelled`))
    const onError = (e: NodeJS.ErrnoException): void =>
      settle(new ConnectFailedError(`connect to ${address} port ${port} failed: ${e.code ?? e.message}`, { cause: e }))
    const timer = setTimeout(() => settle(new ConnectTimeoutError(`connect to ${address} port ${port} timed out after ${timeoutMs} ms`)), timeoutMs)
    s.once('connect', onConnect)
    s.on('error', onError)
    s.once('close', onClose)
  })
}

/** Tries each address in turn until one connects or the connect budget is spent. */
async function connectAny(addresses: readonly string[], port: number, timeoutMs: number, attempt: ConnectAttempt): Promise<{ socket: Socket; address: string }> {
  const deadline = Date.now() + timeoutMs
  let last: unknown = null
  for (const address of addresses) {
    const left = deadline - Date.now()
    if (left <= 0 || attempt.cancelled) break
    try {
      return { socket: await connectOnce(address, port, left, attempt), address }
    } catch (e) {
      last = e
    }
  }
  throw last ?? new ConnectTimeoutError(`connect to port ${port} timed out after ${timeoutMs} ms`)
}

/** `p`, or the error from `onTimeout` if it has not settled within `ms`. */
function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(onTimeout()), ms)))
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

function reasonFor(e: unknown): CloseReason {
  switch (errorCode(e)) {
    case 'ERR_PROXY_CONNECT_TIMEOUT': return 'connect_timeout'
    case 'ERR_PROXY_RESOLVE_FAILED': return 'resolve_failed'
    case 'ERR_PROXY_ADDRESS_FORBIDDEN': return 'address_forbidden'
    default: return 'connect_failed'
  }
}

/**
 * Relays `client` to the route's target. The caller has already checked the allowlist and the
 * route's connection limit, and passes the allowlist `entry` that permits the target.
 */
export function relay(client: ClientStream, route: RelayRoute, entry: AllowlistEntry, resolver: TargetResolver): RelayHandle {
  const started = Date.now()
  // Target -> client, the direction that carries bulk data, reads into a buffer of ours (no
  // allocation, no stream queue per chunk) and writes the slice straight to the client. The
  // buffer is reused only once the kernel has taken all of it: a write that completes
  // synchronously leaves writableLength at 0; otherwise reading pauses until the write's
  // callback. It starts small, so short request/response connections allocate little, and is
  // replaced by a large one the first time a read fills it (net calls `buffer` after each read
  // for the next one; a buffer still referenced by a pending write is simply left to the GC).
  let paused = false
  let readBuf = Buffer.allocUnsafe(SMALL_READ_BUFFER_BYTES)
  const resumeUpstream = (err?: Error | null): void => {
    if (paused && (err === null || err === undefined)) {
      paused = false
      upstream?.resume()
    }
  }
  const onread = {
    buffer: () => readBuf,
    callback: (n: number, buf: Uint8Array): boolean => {
      client.write((buf as Buffer).subarray(0, n), resumeUpstream)
      if (n === readBuf.length && readBuf.length < READ_BUFFER_BYTES) readBuf = Buffer.allocUnsafe(READ_BUFFER_BYTES)
      if (client.writableLength === 0) return true
      paused = true
      return false
    },
  }
  const attempt: ConnectAttempt = { cancelled: false, socket: null, onread }
  let upstream: Socket | null = null
  let upstreamAddress: string | null = null
  let result: RelayResult | null = null
  let resolveDone!: (r: RelayResult) => void
  const done = new Promise<RelayResult>((r) => (resolveDone = r))

  // Half-close is relayed, so neither side may auto-end its writable half on EOF.
  client.allowHalfOpen = true

  const finish = (reason: CloseReason, err: unknown = null): void => {
    if (result !== null) return
    result = {
      reason,
      bytesIn: client.bytesRead ?? 0,
      bytesOut: upstream?.bytesRead ?? 0,
      durationMs: Date.now() - started,
      upstreamAddress,
      errorCode: err === null ? null : errorCode(err),
    }
    attempt.cancelled = true
    attempt.socket?.destroy()
    client.destroy()
    upstream?.destroy()
    const r = result
    // Report once both sockets have really gone, so a drain waits for the file descriptors.
    const closed = (s: Duplex | null): Promise<void> =>
      s === null || s.closed ? Promise.resolve() : new Promise((res) => s.once('close', () => res()))
    void Promise.all([closed(client), closed(upstream)]).then(() => resolveDone(r))
  }

  // While connecting, a client error or hang-up ends the attempt; the pre-connect bytes wait
  // in the client's (bounded) read buffer because nothing reads it yet.
  const earlyError = (e: unknown): void => finish('client_error', e)
  const earlyClose = (): void => finish('client_closed')
  client.on('error', earlyError)
  client.once('close', earlyClose)

  void (async () => {
    let s: Socket
    try {
      // One budget for resolving and connecting: a hung DNS server must not hold the client.
      const deadline = Date.now() + route.connectTimeoutMs
      const addresses = await withDeadline(resolver.resolve(entry, route.ipFamily), route.connectTimeoutMs,
        () => new ConnectTimeoutError(`resolving ${entry.address} took longer than ${route.connectTimeoutMs} ms`))
      if (attempt.cancelled) return
      const connected = await connectAny(addresses, route.target.port, Math.max(1, deadline - Date.now()), attempt)
      s = connected.socket
      upstreamAddress = connected.address
    } catch (e) {
      finish(reasonFor(e), e)
      return
    }
    if (result !== null) {
      s.destroy()
      return
    }
    upstream = s
    attempt.socket = null
    client.removeListener('error', earlyError)
    client.removeListener('close', earlyClose)
    start(client, s)
  })()

  function start(c: ClientStream, u: Socket): void {
    c.setNoDelay?.(true)
    const idle = (): void => finish('idle_timeout')
    c.setTimeout?.(route.idleTimeoutMs, idle)
    u.setTimeout(route.idleTimeoutMs, idle)
    c.on('error', (e) => finish('client_error', e))
    u.on('error', (e) => finish('upstream_error', e))
    // Both halves closed cleanly (FIN each way, buffers flushed) -> 'close' on both.
    let closed = 0
    const onClose = (): void => {
      if (++closed === 2) finish('done')
      // One side gone abruptly while the other still runs: nothing more can be relayed.
      else if (!c.readableEnded || !u.readableEnded) finish(c.closed && !c.readableEnded ? 'client_error' : 'upstream_error')
    }
    c.once('close', onClose)
    u.once('close', onClose)
    c.pipe(u)
    // EOF from the target: end the client's write side once queued bytes are out.
    u.once('end', () => c.end())
  }

  return {
    done,
    close: (reason) => finish(reason),
  }
}
