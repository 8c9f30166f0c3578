/**
 * Loads the optional `vsock` addon (`build/Release/vsock.node`, built at install time from
 * `vsock-bridge/native/vsock.cc`). Without it (macOS, no compiler, failed build) vsock addresses
 * fail with ERR_VSOCK_UNAVAILABLE and unix/tcp keep working.
 * @module
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getSystemErrorName } from 'node:util'
import { VsockUnavailableError } from './errors.js'

/** Address family numbers the addon takes. */
export const FAMILY_VSOCK = 0
export const FAMILY_UNIX = 1
/** IPv4: only for exercising connect timeouts in tests (a TCP backlog can be filled; vsock's cannot be reached). */
export const FAMILY_INET = 2

/** The addon's functions (see native/vsock.cc). Errors thrown carry `errno` and `syscall`. */
export interface VsockBinding {
  socket(family: number): number
  bind(fd: number, family: number, cidOrPath: number | Buffer, port: number): void
  listen(fd: number, backlog: number): void
  /** 0 when connected at once, 1 when in progress (wait with pollWritable). */
  connect(fd: number, family: number, cidOrPath: number | Buffer, port: number): 0 | 1
  soError(fd: number): number
  setConnectTimeout(fd: number, ms: number): void
  /** [cid, port] for vsock, [ipv4 as u32, port] for inet, the raw sun_path bytes for unix. */
  getsockname(fd: number): [number, number] | Buffer | null
  getpeername(fd: number): [number, number] | Buffer | null
  close(fd: number): void
  localCid(): number
  /** Calls back once when `fd` is writable or in error; status < 0 is a libuv error. */
  pollWritable(fd: number, callback: (status: number) => void): void
  /** Stops a watch; its callback never runs. True if one was active. */
  cancelPoll(fd: number): boolean
}

/** An error thrown by the addon. */
export interface NativeError extends Error {
  errno: number
  syscall: string
}

let cached: { binding: VsockBinding } | { error: Error } | undefined

/** Where a build puts the addon, looked up from this file in the source tree and in dist/. */
function candidates(): string[] {
  const here = dirname(fileURLToPath(import.meta.url))
  return [join(here, '..', 'build', 'Release', 'vsock.node'), join(here, '..', '..', 'build', 'Release', 'vsock.node')]
}

/**
 * The addon, or the reason it is unavailable. Loaded once. `NITRO_RECIPIENT_VSOCK_DISABLE=1`
 * turns it off (a broken build in production, or tests of the fallback).
 */
export function tryLoadBinding(): { binding: VsockBinding } | { error: Error } {
  if (cached !== undefined) return cached
  if (process.env.NITRO_RECIPIENT_VSOCK_DISABLE === '1') {
    cached = { error: new Error('disabled by NITRO_RECIPIENT_VSOCK_DISABLE=1') }
    return cached
  }
  if (process.platform !== 'linux') {
    cached = { error: new Error(`AF_VSOCK exists only on Linux (this is ${process.platform})`) }
    return cached
  }
  const path = candidates().find((p) => existsSync(p))
  if (path === undefined) {
    cached = { error: new Error('the native addon build/Release/vsock.node is not built (run `npm rebuild` or `node scripts/build-native.mjs` with g++, make and python3 installed)') }
    return cached
  }
  try {
    cached = { binding: createRequire(import.meta.url)(path) as VsockBinding }
  } catch (e) {
    cached = { error: new Error(`loading ${path} failed: ${(e as Error).message}`, { cause: e }) }
  }
  return cached
}

/**
 * The addon, or a thrown {@link VsockUnavailableError} naming why not (`what` prefixes it).
 * @throws {VsockUnavailableError}
 */
export function requireBinding(what: string): VsockBinding {
  const r = tryLoadBinding()
  if ('binding' in r) return r.binding
  throw new VsockUnavailableError(`${what}: AF_VSOCK is unavailable: ${r.error.message}`, { cause: r.error })
}

/** True when `e` came from the addon with an errno. */
export function isNativeError(e: unknown): e is NativeError {
  return e instanceof Error && typeof (e as Partial<NativeError>).errno === 'number' && typeof (e as Partial<NativeError>).syscall === 'string'
}

/** Node's name for a positive errno: 111 -> ECONNREFUSED. */
export function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-Math.abs(errno))
  } catch {
    return 'EIO'
  }
}
