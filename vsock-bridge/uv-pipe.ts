/**
 * The one place that touches Node internals: libuv `Pipe` handles from `process.binding('pipe_wrap')`.
 *
 * WHY: Node has no public way to turn an AF_VSOCK fd into a stream. `new net.Socket({fd})` and
 * `server.listen({fd})` ask libuv's `uv_guess_handle`, which classifies AF_VSOCK as
 * UV_UNKNOWN_HANDLE, and Node refuses it (ERR_INVALID_FD_TYPE / EINVAL). `uv_pipe_open`, however,
 * does not check the address family: it makes the fd non-blocking and runs libuv's ordinary
 * stream machinery on it, and libuv's accept4() loop works for any family. A `Pipe` handle
 * around a vsock fd therefore gives `net.Socket` with libuv's own backpressure, half-close and
 * close semantics, the same code Node uses for unix sockets, instead of a hand-written Duplex.
 * `process.binding` is deprecated (DEP0111, a warning only under --pending-deprecation); if a
 * future Node removes `pipe_wrap` from it, {@link pipeWrap} throws and vsock reports
 * ERR_VSOCK_UNAVAILABLE while unix and tcp keep working.
 * @module
 */
import * as net from 'node:net'

/** The parts of Node's internal `Pipe` handle used here. */
export interface PipeHandle {
  open(fd: number): number
  listen(backlog: number): number
  close(callback?: () => void): void
  readonly fd: number
  onconnection: ((status: number, client: PipeHandle | undefined) => void) | null
}

interface PipeWrap {
  Pipe: new (type: number) => PipeHandle
  constants: { SOCKET: number; SERVER: number }
}

let pipeWrapCache: PipeWrap | undefined

/** Node's internal pipe_wrap binding. @throws {Error} when this Node no longer offers it. */
export function pipeWrap(): PipeWrap {
  if (pipeWrapCache !== undefined) return pipeWrapCache
  const binding = (process as unknown as { binding?: (name: string) => unknown }).binding
  if (typeof binding !== 'function') throw new Error('process.binding is not available in this Node.js')
  const pw = binding.call(process, 'pipe_wrap') as Partial<PipeWrap> | undefined
  if (typeof pw?.Pipe !== 'function' || typeof pw.constants?.SOCKET !== 'number' || typeof pw.constants.SERVER !== 'number') {
    throw new Error("process.binding('pipe_wrap') does not have the expected Pipe handle")
  }
  pipeWrapCache = pw as PipeWrap
  return pipeWrapCache
}

/** `handle.open(fd)` as an errno: some Node versions return it, others throw a UVException. */
function openHandle(handle: PipeHandle, fd: number): number {
  try {
    return handle.open(fd)
  } catch (e) {
    const errno = (e as { errno?: unknown }).errno
    return typeof errno === 'number' && errno < 0 ? errno : -5 // EIO
  }
}

/**
 * Wraps a connected stream fd in a `net.Socket`. On success the socket owns the fd (destroy()
 * closes it); on failure the caller still owns it. Returns the errno (negative) on failure.
 */
export function socketFromFd(fd: number, allowHalfOpen: boolean): net.Socket | number {
  const { Pipe, constants } = pipeWrap()
  const handle = new Pipe(constants.SOCKET)
  const r = openHandle(handle, fd)
  if (r !== 0) {
    handle.close()
    return r
  }
  return socketFromHandle(handle, allowHalfOpen)
}

/** A `net.Socket` over an accepted client handle (what net.Server does in its onconnection). */
export function socketFromHandle(handle: PipeHandle, allowHalfOpen: boolean): net.Socket {
  // `handle` is not in net.SocketConstructorOpts' public type, but net.Server passes it this way.
  return new net.Socket({ handle, allowHalfOpen, readable: true, writable: true } as net.SocketConstructorOpts)
}

/**
 * Makes a listening server handle over a bound fd and starts accepting. On failure, `fdClosed`
 * says whether the fd went with the handle (open succeeded) or is still the caller's to close.
 */
export function serverFromFd(
  fd: number,
  backlog: number,
  onConnection: (status: number, client: PipeHandle | undefined) => void,
): { handle: PipeHandle } | { errno: number; fdClosed: boolean } {
  const { Pipe, constants } = pipeWrap()
  const handle = new Pipe(constants.SERVER)
  let r = openHandle(handle, fd)
  if (r !== 0) {
    handle.close()
    return { errno: r, fdClosed: false }
  }
  handle.onconnection = onConnection
  r = handle.listen(backlog)
  if (r !== 0) {
    handle.onconnection = null
    handle.close()
    return { errno: r, fdClosed: true }
  }
  return { handle }
}
