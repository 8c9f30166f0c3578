/**
 * What the verifier may remember between calls: parsed certificates (a pure function of their
 * DER, keyed by its SHA-256) and the fact "certificate X is validly signed by certificate Y"
 * (keyed by both SHA-256s). Nothing time-dependent is cached: validity windows, constraints and
 * the COSE signature are checked on every call. Bounded; the oldest entries are dropped first.
 * @module
 */
import type { ParsedCertificate } from './certificate.js'

export class VerificationCache {
  readonly #certs = new Map<string, ParsedCertificate>()
  readonly #links = new Set<string>()
  readonly #max: number

  /** @param maxEntries bound on each of the two tables (default 4096). */
  constructor(maxEntries = 4096) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new TypeError('"maxEntries" must be a positive integer')
    this.#max = maxEntries
  }

  getCertificate(sha256: string): ParsedCertificate | undefined {
    return this.#certs.get(sha256)
  }

  putCertificate(cert: ParsedCertificate): void {
    if (this.#certs.size >= this.#max) this.#certs.delete(this.#certs.keys().next().value as string)
    this.#certs.set(cert.sha256, cert)
  }

  /** True when `child` was seen validly signed by `parent` before. */
  hasLink(child: string, parent: string): boolean {
    return this.#links.has(`${child}:${parent}`)
  }

  putLink(child: string, parent: string): void {
    if (this.#links.size >= this.#max) this.#links.delete(this.#links.values().next().value as string)
    this.#links.add(`${child}:${parent}`)
  }

  /** Forgets everything. */
  clear(): void {
    this.#certs.clear()
    this.#links.clear()
  }

  get size(): { certificates: number; links: number } {
    return { certificates: this.#certs.size, links: this.#links.size }
  }
}

/** The process-wide cache `verifyAttestation` uses unless told otherwise. */
export const defaultVerificationCache = new VerificationCache()
