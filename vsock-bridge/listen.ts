/**
 * `listen(address, onConnection)`: one call for vsock, unix and tcp listeners.
 * @module
 */
import { lstat, unlink } from 'node:fs/promises'
import * as net from 'node:net'
import { formatAddress, toAddress, type Address } from './address.js'
import { recordEndpoints } from './endpoints.js'
import { SocketError } from './errors.js'
import { checkOptions } from './options.js'
import { listenVsock } from './vsock.js'

/** A listening socket. */
export interface Listener {
  /** The address actually bound: a TCP port 0 or vsock port 0 request shows the port chosen. */
  readonly address: Address
  /** Connections accepted and not yet closed. */
  readonly connections: number
  /**
   * Stops accepting, then waits `graceMs` (default 0) for open connections to close by themselves
   * and destroys the rest (nothing is sent to ask them to end). Resolves once the listening
   * socket and every connection are closed. Calling it again returns the same promise.
   */
  close(opts?: { graceMs?: number }): Promise<void>
}

/** Options of {@link listen}. */
export interface ListenOptions {
  /** listen(2) backlog. Default 511, as in `net`. */
  backlog?: number
  /** Keep the writable side open after the peer ends (`net.Socket`'s option). Default false. */
  allowHalfOpen?: boolean
  /** Refuse (close at once) connections beyond this many open ones. Default unlimited. */
  maxConnections?: number
  /**
   * unix paths: when the socket file exists but nobody listens on it (a crashed process left it),
   * remove it and bind again. Default false (EADDRINUSE). Never removes anything but a socket
   * file whose connect is refused.
   */
  replaceStaleSocket?: boolean
  /**
   * Called for errors the listener survives: failed accepts (EMFILE, ...) and exceptions thrown by
   * `onConnection` (that connection is destroyed). Default: ignored, the listener keeps serving.
   */
  onError?: (e: Error) => void
}

/**
 * Called once per accepted connection; the socket is the callback's to use and close. If it
 * throws or returns a rejected promise, the socket is destroyed and `onError` told.
 */
export type ConnectionHandler = (socket: net.Socket) => void

/**
 * Listens on `address`; port 0 (tcp, vsock) picks a free port, shown in `listener.address`.
 *
 * @example
 * ```ts
 * const l = await listen('vsock://any:8000', (s) => s.pipe(s))
 * await l.close()
 * ```
 * @throws {AddressError} `ERR_ADDRESS_INVALID` for a malformed address.
 * @throws {VsockUnavailableError} `ERR_VSOCK_UNAVAILABLE` for vsock without addon or kernel support.
 * @throws {SocketError} with Node's errno name as `code`: `EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`, ...
 * @throws {TypeError|RangeError} for invalid options, unknown ones included.
 */
export async function listen(address: string | Address, onConnection: ConnectionHandler, opts: ListenOptions = {}): Promise<Listener> {
  const a = toAddress(address, { allowPortZero: true })
  if (typeof onConnection !== 'function') throw new TypeError('onConnection must be a function')
  checkOptions(opts, 'listen', ['backlog', 'allowHalfOpen', 'maxConnections', 'replaceStaleSocket', 'onError'], ['allowHalfOpen', 'replaceStaleSocket'])
  const backlog = opts.backlog ?? 511
  if (!Number.isInteger(backlog) || backlog < 1 || backlog > 65535) throw new RangeError('backlog must be an integer in 1..65535')
  const maxConnections = opts.maxConnections ?? Infinity
  if (maxConnections !== Infinity && (!Number.isInteger(maxConnections) || maxConnections < 0)) {
    throw new RangeError('maxConnections must be a non-negative integer')
  }
  if (opts.onError !== undefined && typeof opts.onError !== 'function') throw new TypeError('onError must be a function')
  const settings: ListenSettings = {
    backlog,
    allowHalfOpen: opts.allowHalfOpen === true,
    maxConnections,
    onError: opts.onError ?? (() => {}),
    replaceStaleSocket: opts.replaceStaleSocket === true,
  }
  if (a.kind === 'vsock') return listenVsock(a, onConnection, settings)
  return listenNet(a, onConnection, settings)
}

/** @internal Validated listen options, shared with the vsock path. */
export interface ListenSettings {
  backlog: number
  allowHalfOpen: boolean
  maxConnections: number
  onError: (e: Error) => void
  replaceStaleSocket?: boolean
}

/**
 * @internal Tracks accepted sockets and implements {@link Listener.close} for any transport:
 * `stop` stops accepting and resolves once the listening handle is closed.
 */
export class ConnectionSet {
  readonly #open = new Set<net.Socket>()
  #closing: Promise<void> | undefined
  // One 'close' listener for every socket of this set (no closure per connection).
  readonly #onClose: (this: net.Socket) => void

  constructor() {
    const open = this.#open
    this.#onClose = function (this: net.Socket) {
      open.delete(this)
    }
  }

  get size(): number {
    return this.#open.size
  }

  /** Hands an accepted socket to the user's callback, unless over the limit or closing. */
  accept(socket: net.Socket, settings: ListenSettings, onConnection: ConnectionHandler): void {
    if (this.#closing !== undefined || this.#open.size >= settings.maxConnections) {
      socket.destroy()
      return
    }
    this.#open.add(socket)
    socket.on('close', this.#onClose)
    const failed = (e: unknown): void => {
      socket.destroy()
      settings.onError(e instanceof Error ? e : new Error(String(e)))
    }
    try {
      // An async handler's rejection is handled like a throw, never left unhandled.
      const r: unknown = onConnection(socket)
      if (r instanceof Promise) r.catch(failed)
    } catch (e) {
      failed(e)
    }
  }

  close(stop: () => Promise<void>, opts: { graceMs?: number } | undefined): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    try {
      if (opts !== undefined) checkOptions(opts, 'Listener.close', ['graceMs'], [])
    } catch (e) {
      return Promise.reject(e as Error)
    }
    const grace = opts?.graceMs ?? 0
    if (!Number.isInteger(grace) || grace < 0 || grace > 2 ** 31 - 1) return Promise.reject(new RangeError('graceMs must be an integer in 0..2147483647'))
    this.#closing = (async () => {
      await stop()
      const all = [...this.#open].map((s) => (s.closed ? Promise.resolve() : new Promise<void>((r) => s.once('close', () => r()))))
      if (all.length === 0) return
      const timer = setTimeout(() => {
        for (const s of this.#open) s.destroy()
      }, grace)
      await Promise.all(all)
      clearTimeout(timer)
    })()
    return this.#closing
  }
}

function bindServer(server: net.Server, a: Exclude<Address, { kind: 'vsock' }>, path: string | undefined, settings: ListenSettings): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      server.off('listening', onListening)
      reject(new SocketError(e.code ?? 'EIO', e.syscall ?? 'listen', formatAddress(a), { errno: e.errno, cause: e }))
    }
    const onListening = (): void => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    if (path !== undefined) server.listen({ path, backlog: settings.backlog })
    else server.listen({ host: (a as { host: string }).host, port: (a as { port: number }).port, backlog: settings.backlog })
  })
}

/**
 * Removes a unix socket file nobody listens on (left by a process that died). Only a socket
 * file, and only when a connect to it is refused; true if it was removed.
 */
async function removeStaleSocket(path: string): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined)
  if (st === undefined || !st.isSocket()) return false
  const refused = await new Promise<boolean>((resolve) => {
    const probe = net.connect({ path })
    probe.once('connect', () => {
      probe.destroy()
      resolve(false)
    })
    probe.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'))
  })
  if (!refused) return false
  await unlink(path).catch(() => {})
  return true
}

async function listenNet(a: Exclude<Address, { kind: 'vsock' }>, onConnection: ConnectionHandler, settings: ListenSettings): Promise<Listener> {
  const server = net.createServer({ allowHalfOpen: settings.allowHalfOpen })
  const set = new ConnectionSet()
  const path = a.kind === 'unix' ? (a.abstract ? `\0${a.path}` : a.path) : undefined
  try {
    await bindServer(server, a, path, settings)
  } catch (e) {
    if (!(settings.replaceStaleSocket && a.kind === 'unix' && !a.abstract && (e as SocketError).code === 'EADDRINUSE' && (await removeStaleSocket(a.path)))) throw e
    await bindServer(server, a, path, settings)
  }
  // After listening, errors are accept failures: report them and keep serving.
  server.on('error', (e: Error) => settings.onError(e))
  let actual: Address = a
  if (a.kind === 'tcp') {
    const bound = server.address() as net.AddressInfo
    actual = { kind: 'tcp', host: bound.address, port: bound.port }
  }
  server.on('connection', (socket: net.Socket) => {
    if (a.kind === 'unix') recordEndpoints(socket, { local: a, remote: undefined })
    set.accept(socket, settings, onConnection)
  })
  // 'close' comes once the listening handle and every connection are gone.
  const closed = new Promise<void>((resolve) => server.once('close', () => resolve()))
  const stop = (): Promise<void> => {
    // The listening fd closes (and a unix socket file is unlinked) synchronously in here.
    server.close()
    return Promise.resolve()
  }
  return {
    address: actual,
    get connections() {
      return set.size
    },
    close: async (opts) => {
      await set.close(stop, opts)
      await closed
    },
  }
}
