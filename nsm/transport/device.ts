/**
 * The `/dev/nsm` transport: JavaScript opens the device (O_RDWR) and the small optional addon
 * (`nsm/native/nsm.c`, built as `build/Release/nsm.node`) runs the one ioctl on the libuv
 * thread pool, so the event loop never blocks. Requests are checked (1..4096 bytes) before the
 * ioctl; the response buffer is 12288 bytes and only the length the driver wrote back is
 * returned. EMSGSIZE is the NSM's InputTooLarge (as the Rust crate maps it); any other errno
 * is an NsmIoError naming it. Without the addon or the device, opening fails with an
 * NsmUnavailableError that names the simulator option.
 * @module
 */
import { existsSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getSystemErrorName } from 'node:util'
import { NSM_REQUEST_MAX_SIZE, NSM_RESPONSE_MAX_SIZE } from '../attester.js'
import { NsmInputTooLargeError, NsmIoError, NsmUnavailableError } from '../errors.js'
import type { NsmTransport } from '../protocol-attester.js'

export const DEFAULT_NSM_DEVICE = '/dev/nsm'

/** How to get an NSM when there is none here; part of every "unavailable" message. */
export const SIMULATOR_HINT =
  'to use the development simulator instead, run `nitro-recipient nsm simulator serve --dir D --listen unix:/tmp/nsm.sock` ' +
  'and pass `--nsm unix:/tmp/nsm.sock` (or set NITRO_RECIPIENT_NSM=unix:/tmp/nsm.sock)'

interface NsmBinding {
  request(fd: number, req: Buffer, res: Buffer): Promise<number>
  ioctlNumber: number
}

let cached: { binding: NsmBinding } | { error: string } | undefined

/** The addon, or why it is not there. Loaded once; a missing addon is not an error until used. */
export function loadNsmBinding(): { binding: NsmBinding } | { error: string } {
  if (cached !== undefined) return cached
  if (process.platform !== 'linux') return (cached = { error: `/dev/nsm exists only on Linux (this is ${process.platform})` })
  const here = dirname(fileURLToPath(import.meta.url))
  // source tree (nsm/transport/) and dist/ (dist/nsm/transport/)
  const path = [join(here, '..', '..', 'build', 'Release', 'nsm.node'), join(here, '..', '..', '..', 'build', 'Release', 'nsm.node')].find((p) =>
    existsSync(p),
  )
  if (path === undefined) {
    return (cached = { error: 'the native addon build/Release/nsm.node is not built (run `node scripts/build-native.mjs` with g++, make and python3)' })
  }
  try {
    const b = createRequire(import.meta.url)(path) as NsmBinding
    if (typeof b.request !== 'function' || b.ioctlNumber !== 0xc0200a00) return (cached = { error: `${path} is not the NSM addon` })
    return (cached = { binding: b })
  } catch (e) {
    return (cached = { error: `loading ${path} failed: ${(e as Error).message}` })
  }
}

export class DeviceTransport implements NsmTransport {
  readonly description: string
  #fh: FileHandle | null
  readonly #binding: NsmBinding
  // One response buffer, reused: the returned bytes are a copy, and #queue runs one ioctl at a
  // time even when the transport is used directly (two in flight would share this buffer, and
  // one caller could read the other's answer).
  readonly #response = Buffer.alloc(NSM_RESPONSE_MAX_SIZE)
  #queue: Promise<unknown> = Promise.resolve()
  #closing: Promise<void> | null = null

  private constructor(path: string, fh: FileHandle, binding: NsmBinding) {
    this.description = path
    this.#fh = fh
    this.#binding = binding
  }

  /**
   * Opens the device. `path` exists for tests (a non-NSM file proves the error path) and for
   * unusual device nodes; production uses `/dev/nsm`.
   */
  static async open(path: string = DEFAULT_NSM_DEVICE): Promise<DeviceTransport> {
    const loaded = loadNsmBinding()
    if ('error' in loaded) throw new NsmUnavailableError(`no NSM: ${loaded.error}; ${SIMULATOR_HINT}`)
    let fh: FileHandle
    try {
      fh = await open(path, 'r+')
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error'
      if (code === 'ENOENT') throw new NsmUnavailableError(`no NSM: ${path} does not exist (not inside a Nitro Enclave?); ${SIMULATOR_HINT}`, { cause: e })
      throw new NsmIoError(code, `cannot open ${path}: ${code}`)
    }
    return new DeviceTransport(path, fh, loaded.binding)
  }

  exchange(request: Uint8Array): Promise<Uint8Array> {
    if (this.#closing !== null) return Promise.reject(new NsmIoError('EBADF', `${this.description} is closed`))
    const run = this.#queue.then(() => this.#exchange(request))
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #exchange(request: Uint8Array): Promise<Uint8Array> {
    if (this.#fh === null) throw new NsmIoError('EBADF', `${this.description} is closed`)
    if (request.length === 0 || request.length > NSM_REQUEST_MAX_SIZE) {
      throw new NsmInputTooLargeError(`NSM: InputTooLarge: request of ${request.length} bytes (1..${NSM_REQUEST_MAX_SIZE})`)
    }
    let n: number
    try {
      n = await this.#binding.request(this.#fh.fd, Buffer.from(request), this.#response)
    } catch (e) {
      const errno = (e as { errno?: unknown }).errno
      if (typeof errno !== 'number') throw e
      let name: string
      try {
        name = getSystemErrorName(-errno)
      } catch {
        name = `errno ${errno}`
      }
      if (name === 'EMSGSIZE') throw new NsmInputTooLargeError('NSM: InputTooLarge: the driver refused the request size (EMSGSIZE)')
      throw new NsmIoError(name, `NSM ioctl on ${this.description} failed: ${name}`)
    }
    const out = Uint8Array.prototype.slice.call(this.#response, 0, n)
    this.#response.fill(0, 0, n)
    return out
  }

  /** Refuses new exchanges, lets those already asked for finish, then closes the fd (never under a running ioctl). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#queue
      const fh = this.#fh
      this.#fh = null
      await fh?.close()
    })()
    return this.#closing
  }
}
