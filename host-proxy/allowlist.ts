/**
 * The allowlist, enforced at every connect: a target must equal an entry (same canonical host,
 * same port; no wildcards, no CIDRs, no matching by resolved address as vsock-proxy did), and
 * every address it resolves to must be public unless the entry opts in.
 * @module
 */
import { isIP } from 'node:net'
import { classifyAddress, type AddressClass } from './address-class.js'
import { AddressForbiddenError, NotAllowlistedError } from './errors.js'

/** One allowlisted endpoint: exact host (name or IP literal) and port. */
export interface AllowlistEntry {
  /** Lower-case hostname, or a canonical IP literal (IPv6 without brackets). */
  readonly address: string
  readonly port: number
  /**
   * Let a hostname resolve to loopback, link-local, private or reserved addresses (a VPC
   * interface endpoint's private DNS, for example). IP-literal entries name their address
   * explicitly and need no opt-in.
   */
  readonly allowPrivate: boolean
}

/** Where a route's connections go. */
export interface Target {
  readonly address: string
  readonly port: number
}

/** Canonical `host:port` for messages (`[v6]:port` for IPv6). */
export function formatTarget(t: Target): string {
  return t.address.includes(':') ? `[${t.address}]:${t.port}` : `${t.address}:${t.port}`
}

/** The allowlist entry exactly matching `target` (same canonical host, same port), if any. */
export function findAllowlistEntry(allowlist: readonly AllowlistEntry[], target: Target): AllowlistEntry | undefined {
  return allowlist.find((e) => e.address === target.address && e.port === target.port)
}

/**
 * The entry allowing `target`.
 * @throws {NotAllowlistedError} when there is none.
 */
export function requireAllowlisted(allowlist: readonly AllowlistEntry[], target: Target): AllowlistEntry {
  const entry = findAllowlistEntry(allowlist, target)
  if (entry === undefined) throw new NotAllowlistedError(`${formatTarget(target)} is not in the allowlist`)
  return entry
}

const OPT_IN: ReadonlySet<AddressClass> = new Set(['loopback', 'private', 'link-local', 'reserved'])

/**
 * May the relay dial `ip` for `entry`? An IP-literal entry permits exactly its own address.
 * A hostname entry permits public addresses, and non-public unicast ones only with
 * `allowPrivate`; unspecified, multicast and broadcast addresses never.
 */
export function isAddressPermitted(entry: AllowlistEntry, ip: string): boolean {
  if (isIP(entry.address) !== 0) return ip === entry.address
  const cls = classifyAddress(ip)
  return cls === 'public' || (entry.allowPrivate && OPT_IN.has(cls))
}

/**
 * Keeps the permitted addresses of `ips`, in order.
 * @throws {AddressForbiddenError} when none is permitted.
 */
export function permittedAddresses(entry: AllowlistEntry, ips: readonly string[]): string[] {
  const ok = ips.filter((ip) => isAddressPermitted(entry, ip))
  if (ok.length === 0 && ips.length > 0) {
    const classes = [...new Set(ips.map((ip) => classifyAddress(ip)))].join(', ')
    throw new AddressForbiddenError(
      `${entry.address} resolved only to non-public addresses (${classes}); set allow_private: true on its allowlist entry if that is intended`)
  }
  return ok
}
