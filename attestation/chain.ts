/**
 * Certificate chain verification for attestation documents. The chain is root-first:
 * cabundle[0] (must be byte-identical to a pinned trust anchor) -> cabundle[1] -> ... -> the
 * `certificate` field (the leaf). Every rule is checked at one verification time.
 * @module
 */
import { createHash, verify as cryptoVerify } from 'node:crypto'
import type { VerificationCache } from './cache.js'
import { KU_DIGITAL_SIGNATURE, KU_KEY_CERT_SIGN, parseCertificate, type ParsedCertificate } from './certificate.js'
import { ChainError } from './errors.js'

/** Trust anchors by DER SHA-256 (hex): the bytes and their parse, done once when configured. */
export type AnchorSet = ReadonlyMap<string, { readonly der: Uint8Array; readonly parsed: ParsedCertificate }>

export interface ChainOptions {
  anchors: AnchorSet
  /** Verification time, ms since the epoch. */
  at: number
  /** Tolerance applied to both validity bounds, ms. */
  clockSkewMs: number
  cache: VerificationCache | null
}

/** One certificate of a verified chain, as reported to callers. */
export interface ChainCertificate {
  readonly der: Uint8Array
  /** Hex SHA-256 of the DER. */
  readonly sha256: string
  readonly serialNumber: string
  readonly notBefore: Date
  readonly notAfter: Date
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex')
}

/**
 * Verifies `bundle` (root first) plus `leaf`; returns the parsed chain, root first, leaf last.
 * Throws ChainError / CertificateError with the failing position.
 */
export function verifyChain(bundle: readonly Uint8Array[], leaf: Uint8Array, opts: ChainOptions): ParsedCertificate[] {
  const ders = [...bundle, leaf]
  const hashes = ders.map(sha256)
  const anchor = opts.anchors.get(hashes[0])
  if (anchor === undefined || Buffer.compare(anchor.der, ders[0]) !== 0) {
    throw new ChainError(0, 'cabundle[0] is not a pinned trust anchor', 'ERR_ATTESTATION_CHAIN_UNTRUSTED')
  }
  const chain = ders.map((der, i) => {
    if (i === 0) return anchor.parsed
    const cached = opts.cache?.getCertificate(hashes[i])
    if (cached !== undefined) return cached
    const parsed = parseCertificate(der, i)
    opts.cache?.putCertificate(parsed)
    return parsed
  })
  const leafIndex = chain.length - 1

  for (let i = 1; i < chain.length; i++) {
    if (Buffer.compare(chain[i].issuer, chain[i - 1].subject) !== 0) {
      throw new ChainError(i, "issuer is not the parent certificate's subject", 'ERR_ATTESTATION_CHAIN_ISSUER')
    }
  }
  for (let i = 0; i < chain.length; i++) checkConstraints(chain[i], i, leafIndex)
  for (let i = 0; i < chain.length; i++) checkValidity(chain[i], i, opts)
  for (let i = 1; i < chain.length; i++) {
    const child = chain[i]
    const parent = chain[i - 1]
    if (opts.cache?.hasLink(child.sha256, parent.sha256)) continue
    let ok = false
    try {
      ok = cryptoVerify('sha384', child.tbs, { key: parent.publicKey, dsaEncoding: 'der' }, child.signature)
    } catch {
      ok = false
    }
    if (!ok) throw new ChainError(i, 'signature does not verify with the parent certificate key', 'ERR_ATTESTATION_CHAIN_SIGNATURE')
    opts.cache?.putLink(child.sha256, parent.sha256)
  }
  return chain
}

/**
 * CA certificates (every bundle entry): critical basicConstraints with cA, keyUsage with
 * keyCertSign, and a pathLenConstraint no smaller than the number of CA certificates below them
 * (RFC 5280 §4.2.1.9; self-issued intermediates are counted too, the stricter reading).
 * The leaf: not a CA, keyUsage with digitalSignature.
 */
function checkConstraints(c: ParsedCertificate, i: number, leafIndex: number): void {
  const problem = constraintProblem(c, i, leafIndex)
  if (problem !== undefined) throw new ChainError(i, problem, 'ERR_ATTESTATION_CHAIN_CONSTRAINTS')
}

function constraintProblem(c: ParsedCertificate, i: number, leafIndex: number): string | undefined {
  const bc = c.basicConstraints
  const ku = c.keyUsage ?? 0
  if (i === leafIndex) {
    if (bc?.ca) return 'the leaf certificate is a CA'
    if ((ku & KU_DIGITAL_SIGNATURE) === 0) return 'the leaf certificate lacks keyUsage digitalSignature'
    return undefined
  }
  if (bc === undefined || !bc.ca) return 'a CA certificate without basicConstraints cA=TRUE'
  if (!bc.critical) return 'basicConstraints of a CA certificate is not critical'
  if ((ku & KU_KEY_CERT_SIGN) === 0) return 'a CA certificate without keyUsage keyCertSign'
  const below = leafIndex - 1 - i
  if (bc.pathLen !== undefined && below > bc.pathLen) return `pathLenConstraint ${bc.pathLen} exceeded by ${below} CA certificates below`
  return undefined
}

/** notBefore <= at <= notAfter, both bounds inclusive (RFC 5280 §4.1.2.5). */
function checkValidity(c: ParsedCertificate, i: number, opts: ChainOptions): void {
  if (opts.at < c.notBefore - opts.clockSkewMs) {
    throw new ChainError(i, `not valid before ${new Date(c.notBefore).toISOString()}`, 'ERR_ATTESTATION_CERTIFICATE_NOT_YET_VALID')
  }
  if (opts.at > c.notAfter + opts.clockSkewMs) {
    throw new ChainError(i, `expired at ${new Date(c.notAfter).toISOString()}`, 'ERR_ATTESTATION_CERTIFICATE_EXPIRED')
  }
}

/** The public view of a parsed chain certificate. */
export function describeCertificate(c: ParsedCertificate): ChainCertificate {
  return Object.freeze({
    der: c.der.slice(),
    sha256: c.sha256,
    serialNumber: c.serialHex,
    notBefore: new Date(c.notBefore),
    notAfter: new Date(c.notAfter),
  })
}
