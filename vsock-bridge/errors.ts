/**
 * Errors of the vsock bridge. Address and availability problems carry `ERR_*` codes; socket
 * failures from `connect` / `listen` carry Node's own errno names (`ECONNREFUSED`, `ETIMEDOUT`,
 * `ENODEV`, `EADDRINUSE`, ...) as their `code`, like Node's `SystemError`, so callers handle
 * tcp, unix and vsock failures with one `switch (e.code)`.
 * @module
 */
import { NitroError } from '../common/errors.js'

/** Codes of the bridge's own (non-errno) errors. */
export type VsockBridgeErrorCode = 'ERR_ADDRESS_INVALID' | 'ERR_VSOCK_UNAVAILABLE' | 'ABORT_ERR'

/** A string that is not a valid `vsock://`, `unix:` or `tcp://` address. */
export class AddressError extends NitroError {
  constructor(message: string) {
    super('ERR_ADDRESS_INVALID', message)
  }
}

/**
 * AF_VSOCK cannot be used here: the native addon is not built (e.g. macOS, or the compile
 * failed at install time) or the kernel has no vsock support (`/dev/vsock` missing).
 */
export class VsockUnavailableError extends NitroError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_VSOCK_UNAVAILABLE', message, options)
  }
}

/** `connect` was aborted through its `signal`. Same code as Node's own AbortError. */
export class ConnectAbortedError extends NitroError {
  constructor(options?: { cause?: unknown }) {
    super('ABORT_ERR', 'connect aborted', options)
  }
}

/**
 * A socket operation failed. `code` is the errno name (`ECONNREFUSED`, `ETIMEDOUT`, ...),
 * `syscall` the failing call, `address` the formatted address it was about.
 */
export class SocketError extends NitroError {
  readonly errno: number | undefined
  readonly syscall: string
  readonly address: string

  constructor(code: string, syscall: string, address: string, options?: { errno?: number; message?: string; cause?: unknown }) {
    super(code, options?.message ?? `${syscall} ${code} ${address}`, options?.cause === undefined ? undefined : { cause: options.cause })
    this.errno = options?.errno
    this.syscall = syscall
    this.address = address
  }
}
