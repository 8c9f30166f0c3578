/**
 * host-proxy's coded errors. Every refusal (bad config, a target outside the allowlist, a
 * forbidden resolved address, an upstream that fails) is one of these, with a stable `code`.
 * @module
 */
import { NitroError } from '../common/errors.js'

/** Every code host-proxy throws. */
export type HostProxyErrorCode =
  | 'ERR_PROXY_CONFIG_INVALID'
  | 'ERR_PROXY_CONFIG_UNREADABLE'
  | 'ERR_PROXY_NOT_ALLOWLISTED'
  | 'ERR_PROXY_PORT_RANGE'
  | 'ERR_PROXY_RESOLVE_FAILED'
  | 'ERR_PROXY_ADDRESS_FORBIDDEN'
  | 'ERR_PROXY_CONNECT_FAILED'
  | 'ERR_PROXY_CONNECT_TIMEOUT'
  | 'ERR_PROXY_CREDENTIALS_FETCH'
  | 'ERR_PROXY_CREDENTIALS_INVALID'

/** Base of every host-proxy error. */
export class HostProxyError extends NitroError {
  declare readonly code: HostProxyErrorCode
  constructor(code: HostProxyErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}

/**
 * The configuration is invalid. `path` names the offending field the way a reader finds it in
 * the YAML (`routes[1].target.port`); the message starts with it.
 */
export class ConfigError extends HostProxyError {
  /** The bad field, e.g. `routes[1].target.port`; empty for the document as a whole. */
  readonly path: string
  /** The message without the path and file prefixes. */
  readonly detail: string
  constructor(path: string, detail: string, options?: { cause?: unknown; file?: string }) {
    const where = [options?.file, path].filter((x) => x !== undefined && x !== '').join(': ')
    super('ERR_PROXY_CONFIG_INVALID', where === '' ? detail : `${where}: ${detail}`, options)
    this.path = path
    this.detail = detail
  }
}

/** The configuration file could not be read (missing, unreadable, too large). */
export class ConfigUnreadableError extends HostProxyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_PROXY_CONFIG_UNREADABLE', message, options)
  }
}

/** A target host:port is not in the allowlist (exact host and port). */
export class NotAllowlistedError extends HostProxyError {
  constructor(message: string) {
    super('ERR_PROXY_NOT_ALLOWLISTED', message)
  }
}

/** A port outside 1..65535 or not an integer (vsock-proxy truncated such ports to 16 bits). */
export class PortRangeError extends HostProxyError {
  constructor(message: string) {
    super('ERR_PROXY_PORT_RANGE', message)
  }
}

/** The target hostname did not resolve to any usable address of the selected family. */
export class ResolveError extends HostProxyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_PROXY_RESOLVE_FAILED', message, options)
  }
}

/**
 * The hostname resolved only to addresses the proxy refuses to dial (loopback, link-local,
 * private, unspecified, multicast...) and the allowlist entry did not opt in.
 */
export class AddressForbiddenError extends HostProxyError {
  constructor(message: string) {
    super('ERR_PROXY_ADDRESS_FORBIDDEN', message)
  }
}

/** The upstream TCP connect failed (refused, unreachable...); `cause` keeps the socket error. */
export class ConnectFailedError extends HostProxyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_PROXY_CONNECT_FAILED', message, options)
  }
}

/** The upstream TCP connect did not complete within the route's connect timeout. */
export class ConnectTimeoutError extends HostProxyError {
  constructor(message: string) {
    super('ERR_PROXY_CONNECT_TIMEOUT', message)
  }
}

/** Fetching role credentials from the instance metadata service failed. */
export class CredentialsFetchError extends HostProxyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_PROXY_CREDENTIALS_FETCH', message, options)
  }
}

/** The metadata service answered with credentials that do not have the expected shape. */
export class CredentialsInvalidError extends HostProxyError {
  constructor(message: string) {
    super('ERR_PROXY_CREDENTIALS_INVALID', message)
  }
}
