/**
 * Local and remote addresses of a bridge socket. net.Socket knows them for TCP only; for unix and
 * vsock streams the bridge records them when it creates the socket.
 * @module
 */
import type { Socket } from 'node:net'
import type { Address } from './address.js'

/** Both ends of a stream, as far as they are known (an unnamed unix client has no address). */
export interface Endpoints {
  readonly local: Address | undefined
  readonly remote: Address | undefined
}

// A symbol-keyed property rather than a WeakMap: a WeakMap entry per connection costs measurable
// time in set() and in the garbage collector's ephemeron pass (see bench/vsock-bridge.ts).
const ENDPOINTS = Symbol('nitro-recipient.endpoints')
type Tagged = Socket & { [ENDPOINTS]?: Endpoints }

/** @internal Records the ends of a socket the bridge made. */
export function recordEndpoints(socket: Socket, ends: Endpoints): void {
  ;(socket as Tagged)[ENDPOINTS] = ends
}

/**
 * The local and remote address of a socket returned by `connect` or given to a `listen`
 * callback: vsock cid and port, unix path, or TCP host and port.
 *
 * @example
 * ```ts
 * const s = await connect('vsock://parent:8000')
 * endpoints(s).local // { kind: 'vsock', cid: 16, port: 1029 }
 * ```
 */
export function endpoints(socket: Socket): Endpoints {
  const known = (socket as Tagged)[ENDPOINTS]
  if (known !== undefined) return known
  // A TCP socket: ask the kernel (through libuv) rather than trust what was asked for.
  const local = socket.localAddress !== undefined && socket.localPort !== undefined
    ? { kind: 'tcp' as const, host: socket.localAddress, port: socket.localPort }
    : undefined
  const remote = socket.remoteAddress !== undefined && socket.remotePort !== undefined
    ? { kind: 'tcp' as const, host: socket.remoteAddress, port: socket.remotePort }
    : undefined
  return { local, remote }
}
