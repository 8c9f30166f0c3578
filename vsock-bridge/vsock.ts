/**
 * AF_VSOCK streams: the addon creates, binds and connects the socket; libuv (through a Pipe
 * handle, see uv-pipe.ts) does all the I/O, so the result is an ordinary `net.Socket`.
 *
 * The same path takes AF_UNIX targets ({@link connectNative} / {@link listenNative}), which is
 * how the tests and the benchmark exercise it on a machine without vsock loopback.
 * @module
 */
import { randomInt } from 'node:crypto'
import { unlink } from 'node:fs/promises'
import type * as net from 'node:net'
import { formatAddress, type Address, type VsockAddress } from './address.js'
import { recordEndpoints } from './endpoints.js'
import { ConnectAbortedError, SocketError, VsockUnavailableError } from './errors.js'
import type { ConnectionHandler, Listener, ListenSettings } from './listen.js'
import { ConnectionSet } from './listen.js'
import { errnoName, FAMILY_INET, FAMILY_UNIX, FAMILY_VSOCK, isNativeError, requireBinding, type VsockBinding } from './native.js'
import { pipeWrap, serverFromFd, socketFromFd, socketFromHandle, type PipeHandle } from './uv-pipe.js'

/** @internal Validated connect options. */
export interface VsockConnectSettings {
  timeoutMs: number
  signal: AbortSignal | undefined
  allowHalfOpen: boolean
}

/** @internal A socket address in the addon's terms: vsock cid/port or raw unix path bytes. */
export type NativeTarget =
  | { family: typeof FAMILY_VSOCK; cid: number; port: number }
  | { family: typeof FAMILY_UNIX; path: Buffer }
  | { family: typeof FAMILY_INET; ip: number; port: number }

/** Ports tried when a vsock listener asks for port 0 (vsock has no ephemeral range of its own in 1..65535). */
const VSOCK_DYNAMIC_PORTS: readonly [number, number] = [49152, 65535]
const VSOCK_PORT_ATTEMPTS = 64

/**
 * This machine's vsock CID, from the IOCTL_VM_SOCKETS_GET_LOCAL_CID ioctl on `/dev/vsock`
 * (3 on a Nitro parent instance, the enclave's CID inside an enclave).
 *
 * @throws {VsockUnavailableError} without the addon or without `/dev/vsock`.
 */
export function localCid(): number {
  const b = requireBinding('localCid')
  try {
    return b.localCid()
  } catch (e) {
    throw new VsockUnavailableError(`cannot read the local CID: ${(e as Error).message}`, { cause: e })
  }
}

/** True when AF_VSOCK sockets can be made here (addon loaded and a vsock socket opens). */
export function vsockAvailable(): boolean {
  try {
    const b = requireVsock('vsock')
    b.close(b.socket(FAMILY_VSOCK))
    return true
  } catch {
    return false
  }
}

/** The addon and Node's Pipe handle, or VsockUnavailableError naming what is missing. */
function requireVsock(what: string): VsockBinding {
  const b = requireBinding(what)
  try {
    pipeWrap()
  } catch (e) {
    throw new VsockUnavailableError(`${what}: AF_VSOCK is unavailable: ${(e as Error).message}`, { cause: e })
  }
  return b
}

/** @internal */
export function connectVsock(a: VsockAddress, s: VsockConnectSettings): Promise<net.Socket> {
  const text = formatAddress(a)
  return connectNative(requireVsock(text), { family: FAMILY_VSOCK, cid: a.cid, port: a.port }, text, s)
}

/** @internal */
export function listenVsock(a: VsockAddress, onConnection: ConnectionHandler, s: ListenSettings): Promise<Listener> {
  return listenNative(requireVsock(formatAddress(a)), { family: FAMILY_VSOCK, cid: a.cid, port: a.port }, onConnection, s)
}

/** What a vsock errno usually means, for the error message. */
const VSOCK_HINTS: Readonly<Record<string, string>> = {
  'connect ENODEV': 'no vsock transport reaches that CID; the local CID needs the vsock_loopback module',
  'connect ECONNREFUSED': 'nothing listens on that port at that CID',
  'connect ENETUNREACH': 'no vsock transport for that CID',
  'bind EADDRNOTAVAIL': 'that CID is not this machine\'s; bind to any or to the local CID',
  'bind EADDRINUSE': 'another socket is bound to that port',
  'bind EACCES': 'ports below 1024 need CAP_NET_BIND_SERVICE',
}

/** Turns an addon error into the bridge's error for `text`. */
function toSocketError(e: unknown, text: string, family: number): Error {
  if (!isNativeError(e)) {
    // Not an errno (a libuv handle refused the fd, say): still a typed error, cause kept.
    return new SocketError('EIO', 'connect', text, { cause: e, message: `${text}: ${e instanceof Error ? e.message : String(e)}` })
  }
  let code = errnoName(e.errno)
  if (e.syscall === 'socket' && family === FAMILY_VSOCK && (code === 'EAFNOSUPPORT' || code === 'EPROTONOSUPPORT')) {
    return new VsockUnavailableError(`${text}: this kernel has no AF_VSOCK support (no vsock transport, /dev/vsock missing)`, { cause: e })
  }
  // A vsock peer answers a connection request to a port nobody listens on with RST, which Linux
  // reports as ECONNRESET; for the caller that is a refused connection, as with TCP.
  if (e.syscall === 'connect' && family === FAMILY_VSOCK && code === 'ECONNRESET') code = 'ECONNREFUSED'
  const hint = family === FAMILY_VSOCK ? VSOCK_HINTS[`${e.syscall} ${code}`] : undefined
  return new SocketError(code, e.syscall, text, { errno: e.errno, cause: e, message: `${e.syscall} ${code} ${text}${hint === undefined ? '' : ` (${hint})`}` })
}

function targetArgs(t: NativeTarget): [number, number | Buffer, number] {
  if (t.family === FAMILY_VSOCK) return [FAMILY_VSOCK, t.cid, t.port]
  if (t.family === FAMILY_INET) return [FAMILY_INET, t.ip, t.port]
  return [FAMILY_UNIX, t.path, 0]
}

/** A name from the addon as an Address (vsock ports may be kernel-chosen values above 65535). */
function nameToAddress(name: [number, number] | Buffer | null, family: number): Address | undefined {
  if (name === null) return undefined
  if (family === FAMILY_INET && Array.isArray(name)) {
    const ip = name[0]
    return { kind: 'tcp', host: [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.'), port: name[1] }
  }
  if (Buffer.isBuffer(name)) {
    if (name.length === 0) return undefined // an unbound unix client
    return name[0] === 0
      ? { kind: 'unix', path: name.subarray(1).toString('utf8'), abstract: true }
      : { kind: 'unix', path: name.toString('utf8'), abstract: false }
  }
  return { kind: 'vsock', cid: name[0], port: name[1] }
}

function safeName(f: () => [number, number] | Buffer | null, family: number): Address | undefined {
  try {
    return nameToAddress(f(), family)
  } catch {
    return undefined
  }
}

/**
 * @internal Connects to `target` through the addon and wraps the fd in a `net.Socket`.
 * Every failure path closes the fd exactly once.
 */
export function connectNative(b: VsockBinding, target: NativeTarget, text: string, s: VsockConnectSettings): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const [family, where, port] = targetArgs(target)
    let fd: number
    try {
      fd = b.socket(family)
    } catch (e) {
      reject(toSocketError(e, text, family))
      return
    }
    // fd ownership: `owned` until handed to libuv (socket) or closed here.
    let owned = true
    let settled = false
    const release = (): void => {
      if (owned) {
        owned = false
        b.cancelPoll(fd)
        b.close(fd)
      }
    }
    const fail = (err: Error): void => {
      if (settled) return
      settled = true
      cleanup()
      release()
      reject(err)
    }
    const succeed = (): void => {
      if (settled) return
      // getpeername also proves the connection exists (ENOTCONN otherwise). A unix client is
      // unnamed and its peer is the path it dialled: no syscalls needed there.
      let remote: Address | undefined
      let local: Address | undefined
      if (family !== FAMILY_UNIX) {
        try {
          remote = nameToAddress(b.getpeername(fd), family)
        } catch (e) {
          fail(toSocketError(e, text, family))
          return
        }
        local = safeName(() => b.getsockname(fd), family)
      }
      let socket: net.Socket | number
      try {
        socket = socketFromFd(fd, s.allowHalfOpen)
      } catch (e) {
        fail(toSocketError(e, text, family))
        return
      }
      if (typeof socket === 'number') {
        fail(new SocketError(errnoName(socket), 'uv_pipe_open', text, { errno: -socket }))
        return
      }
      settled = true
      owned = false
      cleanup()
      recordEndpoints(socket, { local, remote: remote ?? nameFromTarget(target) })
      resolve(socket)
    }
    const onAbort = (): void => fail(new ConnectAbortedError({ cause: s.signal?.reason }))
    // Timer and abort listener exist only while a connect is pending; a connect that completes
    // or fails at once (unix sockets, local vsock errors) needs neither.
    let timer: NodeJS.Timeout | undefined
    const cleanup = (): void => {
      if (timer === undefined) return
      clearTimeout(timer)
      s.signal?.removeEventListener('abort', onAbort)
    }
    try {
      // The kernel's vsock connect timeout (2 s by default) applies to non-blocking connects
      // too; align it with ours so neither cuts the other short.
      if (family === FAMILY_VSOCK) b.setConnectTimeout(fd, s.timeoutMs)
      if (b.connect(fd, family, where, port) === 0) {
        succeed()
        return
      }
      timer = setTimeout(() => {
        fail(new SocketError('ETIMEDOUT', 'connect', text, { message: `connect ETIMEDOUT ${text} (no connection within ${s.timeoutMs} ms)` }))
      }, s.timeoutMs)
      s.signal?.addEventListener('abort', onAbort, { once: true })
      if (s.signal?.aborted === true) {
        onAbort()
        return
      }
      // Runs from the addon's uv_poll callback: nothing may throw out of it.
      b.pollWritable(fd, (status) => {
        if (settled) return
        let err: number
        try {
          err = b.soError(fd)
        } catch (e) {
          fail(toSocketError(e, text, family))
          return
        }
        if (err !== 0) fail(toSocketError(Object.assign(new Error('connect'), { errno: err, syscall: 'connect' }), text, family))
        else if (status < 0) fail(new SocketError(errnoName(status), 'connect', text, { errno: -status }))
        else succeed()
      })
    } catch (e) {
      fail(toSocketError(e, text, family))
    }
  })
}

function nameFromTarget(t: NativeTarget): Address {
  if (t.family === FAMILY_VSOCK) return { kind: 'vsock', cid: t.cid, port: t.port }
  if (t.family === FAMILY_INET) return nameToAddress([t.ip, t.port], FAMILY_INET) as Address
  return nameToAddress(t.path, FAMILY_UNIX) as Address
}

/** Binds `fd`; a vsock port 0 becomes a free port in 49152..65535 (kernel-chosen ones exceed 65535). */
function bindTarget(b: VsockBinding, fd: number, target: NativeTarget): void {
  const [family, where, port] = targetArgs(target)
  if (family !== FAMILY_VSOCK || port !== 0) {
    b.bind(fd, family, where, port)
    return
  }
  for (let i = 0; ; i++) {
    try {
      b.bind(fd, family, where, randomInt(VSOCK_DYNAMIC_PORTS[0], VSOCK_DYNAMIC_PORTS[1] + 1))
      return
    } catch (e) {
      if (i + 1 >= VSOCK_PORT_ATTEMPTS || !isNativeError(e) || errnoName(e.errno) !== 'EADDRINUSE') throw e
    }
  }
}

/**
 * @internal Binds and listens on `target` through the addon; libuv accepts, each connection is a
 * `net.Socket`. Every failure path closes the fd exactly once.
 */
export async function listenNative(b: VsockBinding, target: NativeTarget, onConnection: ConnectionHandler, s: ListenSettings): Promise<Listener> {
  const family = target.family
  const requested = nameFromTarget(target)
  const text = formatAddress(requested)
  let fd: number
  try {
    fd = b.socket(family)
  } catch (e) {
    throw toSocketError(e, text, family)
  }
  let address: Address
  try {
    bindTarget(b, fd, target)
    b.listen(fd, s.backlog)
    const bound = nameToAddress(b.getsockname(fd), family)
    address = bound ?? requested
    if (address.kind === 'unix') address = requested
  } catch (e) {
    b.close(fd)
    throw toSocketError(e, text, family)
  }
  const set = new ConnectionSet()
  const onAccept = (status: number, client: PipeHandle | undefined): void => {
    if (status < 0 || client === undefined) {
      s.onError(new SocketError(errnoName(status), 'accept', text, { errno: -status }))
      return
    }
    // Names are best effort: a peer that already reset leaves getpeername failing.
    // Unix clients are unnamed: only vsock (and inet) peers have a name worth a syscall.
    const local = family === FAMILY_UNIX ? address : safeName(() => b.getsockname(client.fd), family)
    const remote = family === FAMILY_UNIX ? undefined : safeName(() => b.getpeername(client.fd), family)
    let socket: net.Socket
    try {
      socket = socketFromHandle(client, s.allowHalfOpen)
    } catch (e) {
      client.close() // closes the accepted fd
      s.onError(toSocketError(e, text, family))
      return
    }
    recordEndpoints(socket, { local, remote })
    set.accept(socket, s, onConnection)
  }
  const made = serverFromFd(fd, s.backlog, onAccept)
  if (!('handle' in made)) {
    if (!made.fdClosed) b.close(fd)
    throw new SocketError(errnoName(made.errno), 'listen', text, { errno: -made.errno })
  }
  const server = made.handle
  const unixPath = target.family === FAMILY_UNIX && target.path[0] !== 0 ? target.path.toString('utf8') : undefined
  const stop = async (): Promise<void> => {
    await new Promise<void>((resolve) => server.close(() => resolve()))
    // libuv unlinks socket files only for pipes it bound itself; this one the addon bound.
    if (unixPath !== undefined) await unlink(unixPath).catch(() => {})
  }
  return {
    address,
    get connections() {
      return set.size
    },
    close: (opts) => set.close(stop, opts),
  }
}
