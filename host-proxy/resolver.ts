/**
 * Target resolution with a TTL-respecting cache. vsock-proxy pinned the first address of a
 * hostname until its TTL expired and then took the first address again (issue #553: ALB IPs
 * rotate); here a hostname is re-resolved when its record's TTL (clamped to [min, max]) runs out,
 * the connection attempts rotate over every permitted address, and the lookup function is
 * injectable so tests can change DNS answers.
 * @module
 */
import { isIP } from 'node:net'
import { promises as dns } from 'node:dns'
import type { IpFamily } from './config.js'
import { permittedAddresses, type AllowlistEntry } from './allowlist.js'
import { ResolveError } from './errors.js'

/** One DNS answer: an address and its TTL in seconds. */
export interface DnsAnswer {
  readonly address: string
  readonly ttl: number
}

/**
 * Resolves `host` to addresses of one family. Rejects (any error) when the name has no such
 * records. The default asks the system's DNS servers with TTLs and falls back to getaddrinfo
 * (for `/etc/hosts` names), whose answers carry no TTL.
 */
export type LookupFn = (host: string, family: 4 | 6) => Promise<readonly DnsAnswer[]>

/** The default {@link LookupFn}. */
export const systemLookup: LookupFn = async (host, family) => {
  try {
    const answers = family === 4 ? await dns.resolve4(host, { ttl: true }) : await dns.resolve6(host, { ttl: true })
    if (answers.length > 0) return answers
  } catch {
    // Fall through to getaddrinfo: /etc/hosts and nsswitch-only names.
  }
  const found = await dns.lookup(host, { family, all: true })
  return found.map((a) => ({ address: a.address, ttl: 0 }))
}

interface CacheEntry {
  addresses: string[]
  expiresAt: number
}

/** Options for {@link TargetResolver}. */
export interface ResolverOptions {
  lookup?: LookupFn
  /** TTLs are clamped into [minTtlMs, maxTtlMs]. */
  minTtlMs?: number
  maxTtlMs?: number
  /** Clock, injectable for tests. */
  now?: () => number
}

const MAX_CACHE = 1024

/** Resolves allowlisted targets to the addresses the relay may dial, in the order to try them. */
export class TargetResolver {
  readonly #lookup: LookupFn
  readonly #minTtl: number
  readonly #maxTtl: number
  readonly #now: () => number
  readonly #cache = new Map<string, CacheEntry>()
  readonly #pending = new Map<string, Promise<CacheEntry>>()
  #turn = 0

  constructor(opts: ResolverOptions = {}) {
    this.#lookup = opts.lookup ?? systemLookup
    this.#minTtl = opts.minTtlMs ?? 1000
    this.#maxTtl = opts.maxTtlMs ?? 300_000
    this.#now = opts.now ?? Date.now
  }

  /**
   * The permitted addresses of `entry` for `family`, rotated so that consecutive connections
   * spread over them.
   * @throws {ResolveError} when the name does not resolve (or not in this family).
   * @throws {AddressForbiddenError} when it resolves only to addresses the entry does not permit.
   */
  async resolve(entry: AllowlistEntry, family: IpFamily): Promise<string[]> {
    const literal = isIP(entry.address)
    if (literal !== 0) {
      if ((literal === 4 && family === 'ipv6') || (literal === 6 && family === 'ipv4')) {
        throw new ResolveError(`${entry.address} is an IPv${literal} address but only ${family} is enabled`)
      }
      return [entry.address]
    }
    const cached = await this.#records(entry.address, family)
    const allowed = permittedAddresses(entry, cached.addresses)
    if (allowed.length <= 1) return allowed
    const k = this.#turn++ % allowed.length
    return [...allowed.slice(k), ...allowed.slice(0, k)]
  }

  /** Forgets every cached answer (on config reload). */
  clear(): void {
    this.#cache.clear()
  }

  async #records(host: string, family: IpFamily): Promise<CacheEntry> {
    const key = `${family} ${host}`
    const hit = this.#cache.get(key)
    if (hit !== undefined && hit.expiresAt > this.#now()) return hit
    // One query in flight per name: a burst of connections must not become a burst of queries.
    let p = this.#pending.get(key)
    if (p === undefined) {
      p = this.#query(host, family).finally(() => this.#pending.delete(key))
      this.#pending.set(key, p)
    }
    const fresh = await p
    if (this.#cache.size >= MAX_CACHE) this.#cache.clear()
    this.#cache.set(key, fresh)
    return fresh
  }

  async #query(host: string, family: IpFamily): Promise<CacheEntry> {
    const families: (4 | 6)[] = family === 'ipv4' ? [4] : family === 'ipv6' ? [6] : [4, 6]
    const results = await Promise.allSettled(families.map((f) => this.#lookup(host, f)))
    const addresses: string[] = []
    let ttl = Infinity
    let failure: unknown
    results.forEach((r, i) => {
      if (r.status === 'rejected') {
        failure ??= r.reason
        return
      }
      for (const a of r.value) {
        // A lookup function must not smuggle a name or a wrong family past the address checks.
        if (isIP(a.address) !== families[i]) continue
        addresses.push(a.address)
        if (Number.isFinite(a.ttl) && a.ttl >= 0) ttl = Math.min(ttl, a.ttl * 1000)
      }
    })
    if (addresses.length === 0) {
      const why = failure instanceof Error ? ((failure as NodeJS.ErrnoException).code ?? failure.message) : 'no records'
      throw new ResolveError(`${host} did not resolve (${family}): ${why}`, { cause: failure })
    }
    const ttlMs = Math.min(this.#maxTtl, Math.max(this.#minTtl, Number.isFinite(ttl) ? ttl : 0))
    return { addresses: [...new Set(addresses)], expiresAt: this.#now() + ttlMs }
  }
}
