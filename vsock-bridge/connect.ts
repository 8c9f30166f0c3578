/**
 * `connect(address)`: one call for vsock, unix and tcp, resolving to a connected `net.Socket`.
 * @module
 */
import * as net from 'node:net'
import { formatAddress, toAddress, VMADDR_CID_ANY, type Address } from './address.js'
import { recordEndpoints } from './endpoints.js'
import { AddressError, ConnectAbortedError, SocketError } from './errors.js'
import { checkOptions } from './options.js'
import { connectVsock } from './vsock.js'

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** Give up after this many milliseconds with `ETIMEDOUT`. Default 10 000 (undici's default). */
  timeoutMs?: number
  /** Abort the attempt: the promise rejects with `ABORT_ERR` and the socket is released. */
  signal?: AbortSignal
  /**
   * Keep the writable side open after the peer ends (`net.Socket`'s option). Default false, as
   * in `net`. Relays that forward half-closes must pass true and call `end()` themselves.
   */
  allowHalfOpen?: boolean
}

/** Default connect timeout. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000
const MAX_TIMEOUT_MS = 2 ** 31 - 1

/**
 * Opens a stream to `address`. The result is a `net.Socket` (for vsock, one over a libuv stream
 * handle) with the usual semantics: backpressure, `end()` half-close, `destroy()`, one `'close'`.
 *
 * @example
 * ```ts
 * const s = await connect('vsock://parent:8000', { timeoutMs: 5000 })
 * s.end('hello')
 * ```
 * @throws {AddressError} `ERR_ADDRESS_INVALID` for a malformed address (port 0 included) and for
 *   `vsock://any:...`, which only a listener can use.
 * @throws {VsockUnavailableError} `ERR_VSOCK_UNAVAILABLE` for vsock without addon or kernel support.
 * @throws {SocketError} with Node's errno name as `code`: `ECONNREFUSED`, `ETIMEDOUT`, `ENOENT`, `ENODEV`, ...
 * @throws {ConnectAbortedError} `ABORT_ERR` when `signal` aborts.
 * @throws {TypeError|RangeError} for invalid options, unknown ones included.
 */
export async function connect(address: string | Address, opts: ConnectOptions = {}): Promise<net.Socket> {
  const a = toAddress(address)
  checkOptions(opts, 'connect', ['timeoutMs', 'signal', 'allowHalfOpen'], ['allowHalfOpen'])
  const timeoutMs = checkTimeout(opts.timeoutMs)
  const signal = opts.signal
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal')
  if (signal?.aborted === true) throw new ConnectAbortedError({ cause: signal.reason })
  const allowHalfOpen = opts.allowHalfOpen === true
  if (a.kind === 'vsock') {
    if (a.cid === VMADDR_CID_ANY) throw new AddressError(`${formatAddress(a)}: cid 'any' is for listening; connect to a CID (e.g. 'parent')`)
    return connectVsock(a, { timeoutMs, signal, allowHalfOpen })
  }
  return connectNet(a, timeoutMs, signal, allowHalfOpen)
}

function connectNet(a: Exclude<Address, { kind: 'vsock' }>, timeoutMs: number, signal: AbortSignal | undefined, allowHalfOpen: boolean): Promise<net.Socket> {
  const text = formatAddress(a)
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = a.kind === 'tcp'
      ? net.connect({ host: a.host, port: a.port, allowHalfOpen })
      : net.connect({ path: a.abstract ? `\0${a.path}` : a.path, allowHalfOpen })
    let settled = false
    const finish = (err: Error | undefined): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      socket.off('connect', onConnect)
      socket.off('error', onError)
      if (err === undefined) {
        resolve(socket)
        return
      }
      // destroy() releases the fd; the error is ours to report, not the socket's to emit.
      socket.destroy()
      reject(err)
    }
    const onConnect = (): void => {
      if (a.kind === 'unix') recordEndpoints(socket, { local: undefined, remote: a })
      finish(undefined)
    }
    const onError = (e: NodeJS.ErrnoException): void => {
      finish(new SocketError(e.code ?? 'EIO', e.syscall ?? 'connect', text, { errno: e.errno, cause: e }))
    }
    const onAbort = (): void => finish(new ConnectAbortedError({ cause: signal?.reason }))
    const timer = setTimeout(() => {
      finish(new SocketError('ETIMEDOUT', 'connect', text, { message: `connect ETIMEDOUT ${text} (no connection within ${timeoutMs} ms)` }))
    }, timeoutMs)
    socket.once('connect', onConnect)
    socket.once('error', onError)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** @internal Validates a timeout option; shared with the vsock path. */
export function checkTimeout(v: number | undefined): number {
  if (v === undefined) return DEFAULT_CONNECT_TIMEOUT_MS
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError('timeoutMs must be an integer')
  if (v < 1 || v > MAX_TIMEOUT_MS) throw new RangeError(`timeoutMs must be in 1..${MAX_TIMEOUT_MS}`)
  return v
}
