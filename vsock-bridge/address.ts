/**
 * The one address syntax of the project, for every component that opens or accepts a stream:
 *
 * - `vsock://<cid>:<port>`, cid `any` (VMADDR_CID_ANY, 0xFFFFFFFF), `parent` (3), `local` (1)
 *   or a decimal u32;
 * - `unix:/path/to.sock`, or `unix:@name` for a Linux abstract socket (no file permissions:
 *   any process in the same network namespace can connect to an abstract name);
 * - `tcp://host:port`, `tcp://192.0.2.1:port`, `tcp://[2001:db8::1]:port`.
 *
 * Ports are decimal 1..65535 (0 only where a listener asks for "any free port"), checked before
 * any conversion, so nothing is truncated the way `port as u16` turns 65979 into 443. Every
 * rejection is an {@link AddressError} (`ERR_ADDRESS_INVALID`) that says what was wrong.
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net'
import { AddressError } from './errors.js'

/** VMADDR_CID_ANY: bind on every local CID. */
export const VMADDR_CID_ANY = 0xffff_ffff
/** VMADDR_CID_LOCAL: the local loopback transport (needs the vsock_loopback module). */
export const VMADDR_CID_LOCAL = 1
/** VMADDR_CID_HOST: the host, as seen from a guest. */
export const VMADDR_CID_HOST = 2
/** The Nitro parent instance, as seen from its enclaves (nitro-cli's VMADDR_CID_PARENT). */
export const VMADDR_CID_PARENT = 3

/** An AF_VSOCK endpoint. `cid` and `port` are integers; port 0 means "any" (listen only). */
export interface VsockAddress {
  readonly kind: 'vsock'
  readonly cid: number
  readonly port: number
}

/** A unix-domain socket: a filesystem path, or an abstract name (Linux) when `abstract`. */
export interface UnixAddress {
  readonly kind: 'unix'
  readonly path: string
  readonly abstract: boolean
}

/** A TCP endpoint. `host` is a hostname, an IPv4 literal or an IPv6 literal (no brackets). */
export interface TcpAddress {
  readonly kind: 'tcp'
  readonly host: string
  readonly port: number
}

/** Any address the bridge can connect to or listen on. */
export type Address = VsockAddress | UnixAddress | TcpAddress

/** Options of {@link parseAddress}. */
export interface ParseAddressOptions {
  /** Accept port 0 ("any free port"), as a listener does. Default false. */
  allowPortZero?: boolean
}

/** Longest address string accepted, far above any real one. */
export const MAX_ADDRESS_LENGTH = 1024
/** sun_path holds 108 bytes including the terminating NUL (path) or leading NUL (abstract). */
const MAX_UNIX_PATH_BYTES = 107
const CID_NAMES: Readonly<Record<string, number>> = { any: VMADDR_CID_ANY, parent: VMADDR_CID_PARENT, local: VMADDR_CID_LOCAL }
// Strict decimal: no sign, no leading zeros (so "010" cannot mean 8 somewhere else), no spaces.
const DECIMAL = /^(?:0|[1-9][0-9]*)$/
// RFC 1123 host names: labels of letters, digits and hyphens, not starting or ending with '-'.
const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/

/**
 * Parses an address string.
 *
 * @example
 * ```ts
 * parseAddress('vsock://parent:8000') // { kind: 'vsock', cid: 3, port: 8000 }
 * parseAddress('tcp://[::1]:443')     // { kind: 'tcp', host: '::1', port: 443 }
 * parseAddress('unix:@nsm')           // { kind: 'unix', path: 'nsm', abstract: true }
 * ```
 * @throws {AddressError} `ERR_ADDRESS_INVALID` for anything malformed or out of range.
 * @throws {TypeError} when `s` is not a string.
 */
export function parseAddress(s: string, opts: ParseAddressOptions = {}): Address {
  if (typeof s !== 'string') throw new TypeError('address must be a string')
  if (s.length === 0) throw new AddressError('empty address')
  if (s.length > MAX_ADDRESS_LENGTH) throw new AddressError(`address longer than ${MAX_ADDRESS_LENGTH} characters`)
  // Control characters (C0, DEL, C1) and spaces never belong in an address; rejecting them keeps logs honest too.
  if (hasControlOrSpace(s)) throw new AddressError('address contains whitespace or control characters')
  // A lone surrogate has no UTF-8 form: Node would write U+FFFD and open another path than the one named.
  if (hasLoneSurrogate(s)) throw new AddressError('address is not well-formed Unicode (a lone surrogate)')
  const allowZero = opts.allowPortZero === true
  if (s.startsWith('vsock://')) return parseVsock(s, s.slice('vsock://'.length), allowZero)
  if (s.startsWith('tcp://')) return parseTcp(s, s.slice('tcp://'.length), allowZero)
  if (s.startsWith('unix://')) {
    throw new AddressError(`${quote(s)}: write unix:/absolute/path or unix:@abstract-name (not unix://)`)
  }
  if (s.startsWith('unix:')) return parseUnix(s, s.slice('unix:'.length))
  throw new AddressError(`${quote(s)}: expected vsock://<cid>:<port>, unix:/path, unix:@name or tcp://host:port`)
}

/**
 * Formats an address back to its canonical string; `parseAddress(formatAddress(a))` equals `a`.
 * VMADDR_CID_ANY prints as `any`, other CIDs as decimal.
 *
 * @throws {AddressError} when `a` holds values {@link parseAddress} would reject.
 */
export function formatAddress(a: Address): string {
  switch (a.kind) {
    case 'vsock':
      checkU32(a.cid, 'cid')
      // Kernel-chosen vsock ports (a client's local end) are u32 and print as such; parseAddress
      // still accepts only 1..65535 as input.
      checkU32(a.port, 'port')
      return `vsock://${a.cid === VMADDR_CID_ANY ? 'any' : String(a.cid)}:${a.port}`
    case 'tcp':
      checkPort(a.port, true)
      return isIPv6(a.host) ? `tcp://[${a.host}]:${a.port}` : `tcp://${a.host}:${a.port}`
    case 'unix':
      if (!a.abstract && a.path.startsWith('//')) throw new AddressError(`unix path ${quote(a.path)} starts with '//'; write it with one '/'`)
      // `unix:@x` is the abstract name x (no file permissions): a file named "@x" must not become one.
      if (!a.abstract && a.path.startsWith('@')) throw new AddressError(`unix path ${quote(a.path)} starts with '@', which names an abstract socket; write ./${a.path}`)
      return a.abstract ? `unix:@${a.path}` : `unix:${a.path}`
    default:
      throw new AddressError(`unknown address kind ${quote(String((a as { kind: unknown }).kind))}`)
  }
}

/** `parseAddress` for strings, a validated copy for objects (re-checked, never trusted). */
export function toAddress(a: string | Address, opts: ParseAddressOptions = {}): Address {
  if (typeof a === 'string') return parseAddress(a, opts)
  if (typeof a !== 'object' || a === null) throw new TypeError('address must be a string or an Address')
  // Round-trip through the string form: one validator for both spellings.
  return parseAddress(formatAddress(a), opts)
}

function parseVsock(whole: string, rest: string, allowZero: boolean): VsockAddress {
  const colon = rest.lastIndexOf(':')
  if (colon < 0) throw new AddressError(`${quote(whole)}: expected vsock://<cid>:<port>`)
  const cidText = rest.slice(0, colon)
  const cid = Object.hasOwn(CID_NAMES, cidText) ? CID_NAMES[cidText] : parseDecimal(cidText, whole, 'cid', 0xffff_ffff)
  const port = parsePort(rest.slice(colon + 1), whole, allowZero)
  return { kind: 'vsock', cid, port }
}

function parseTcp(whole: string, rest: string, allowZero: boolean): TcpAddress {
  let host: string
  let portText: string
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']')
    if (close < 0) throw new AddressError(`${quote(whole)}: missing ']' after the IPv6 address`)
    host = rest.slice(1, close)
    if (!isIPv6(host)) throw new AddressError(`${quote(whole)}: ${quote(host)} is not an IPv6 address`)
    if (rest[close + 1] !== ':') throw new AddressError(`${quote(whole)}: expected ':<port>' after ']'`)
    portText = rest.slice(close + 2)
  } else {
    const colon = rest.lastIndexOf(':')
    if (colon < 0) throw new AddressError(`${quote(whole)}: expected tcp://host:port`)
    host = rest.slice(0, colon)
    portText = rest.slice(colon + 1)
    if (host.includes(':')) throw new AddressError(`${quote(whole)}: IPv6 addresses go in brackets, tcp://[::1]:port`)
    checkHost(host, whole)
  }
  return { kind: 'tcp', host, port: parsePort(portText, whole, allowZero) }
}

function parseUnix(whole: string, rest: string): UnixAddress {
  const abstract = rest.startsWith('@')
  const path = abstract ? rest.slice(1) : rest
  if (path.length === 0) throw new AddressError(`${quote(whole)}: empty ${abstract ? 'abstract name' : 'path'}`)
  const bytes = Buffer.byteLength(path, 'utf8')
  if (bytes > MAX_UNIX_PATH_BYTES) {
    throw new AddressError(`${quote(whole)}: unix socket ${abstract ? 'name' : 'path'} is ${bytes} bytes, the limit is ${MAX_UNIX_PATH_BYTES}`)
  }
  return { kind: 'unix', path, abstract }
}

function checkHost(host: string, whole: string): void {
  if (host.length === 0) throw new AddressError(`${quote(whole)}: empty host`)
  const name = host.endsWith('.') ? host.slice(0, -1) : host
  // A last label that is a number (decimal, or 0x hex: WHATWG URL's "ends in a number") makes
  // getaddrinfo read the whole host as inet_aton does: "0x7f.1", "127.1", "017.1" and "1.0x1" all
  // reach an IPv4 address without looking like one. Such a host must be a real dotted quad.
  if (/^(?:[0-9]+|0[xX][0-9A-Fa-f]*)$/.test(name.slice(name.lastIndexOf('.') + 1))) {
    if (!isIPv4(host)) throw new AddressError(`${quote(whole)}: ${quote(host)} is not an IPv4 address`)
    return
  }
  if (name.length > 253 || !name.split('.').every((l) => HOST_LABEL.test(l))) {
    throw new AddressError(`${quote(whole)}: ${quote(host)} is not a valid host name`)
  }
}

function parsePort(text: string, whole: string, allowZero: boolean): number {
  if (text.length === 0) throw new AddressError(`${quote(whole)}: missing port`)
  if (!DECIMAL.test(text)) throw new AddressError(`${quote(whole)}: port ${quote(text)} is not a decimal number`)
  // Range check on the text's length first, so a 400-digit port never becomes Infinity or a float.
  const port = text.length > 5 ? Infinity : Number(text)
  if (port > 65535 || (port === 0 && !allowZero)) {
    throw new AddressError(`${quote(whole)}: port ${text.length > 12 ? text.slice(0, 12) + '...' : text} is outside ${allowZero ? 0 : 1}..65535`)
  }
  return port
}

function parseDecimal(text: string, whole: string, what: string, max: number): number {
  if (text.length === 0) throw new AddressError(`${quote(whole)}: missing ${what}`)
  if (!DECIMAL.test(text)) {
    throw new AddressError(`${quote(whole)}: ${what} ${quote(text)} is not a decimal number or one of ${Object.keys(CID_NAMES).join(', ')}`)
  }
  const value = text.length > 10 ? Infinity : Number(text)
  if (value > max) throw new AddressError(`${quote(whole)}: ${what} is larger than ${max}`)
  return value
}

function checkPort(port: number, allowZero: boolean): void {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) throw new AddressError(`port ${String(port)} is outside 1..65535`)
}

function checkU32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new AddressError(`${what} ${String(v)} is outside 0..4294967295`)
}

function hasControlOrSpace(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c <= 0x20 || (c >= 0x7f && c <= 0x9f)) return true
  }
  return false
}

function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0xd800 || c > 0xdfff) continue
    const next = s.charCodeAt(i + 1) // NaN past the end
    if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return true
    i++
  }
  return false
}

// Bounded and JSON-quoted so hostile input cannot flood or forge log lines.
function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s)
}
