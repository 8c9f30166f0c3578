/**
 * Caller policy on an authentic document: expected PCR values, debug mode, and the nonce,
 * user_data and public_key bindings. Expectations are exact values, never lists of alternatives
 * or wildcards (an all-zero expected PCR means "all zero", not "anything").
 * @module
 */
import { timingSafeEqual, KeyObject } from 'node:crypto'
import { PolicyError } from './errors.js'
import type { AttestationKind, AttestationPayload } from './payload.js'

/** Bytes, or hex text (either case, no prefix). */
export type BytesLike = Uint8Array | string

/** Parses a BytesLike option; TypeError on bad hex (programmer input, not document input). */
export function toBytes(v: BytesLike, what: string): Uint8Array {
  if (v instanceof Uint8Array) return v
  if (typeof v === 'string' && v.length % 2 === 0 && /^[0-9a-fA-F]*$/.test(v)) return new Uint8Array(Buffer.from(v, 'hex'))
  throw new TypeError(`"${what}" must be a Uint8Array or an even-length hex string`)
}

/** Normalises `expectedPcrs` up front so a bad option fails before any document is read. */
export function normalizeExpectedPcrs(pcrs: Record<number, BytesLike> | undefined): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>()
  if (pcrs === undefined) return out
  // A plain object (or an array, by position). A Map, whose entries Object.entries cannot see,
  // would otherwise check nothing and let every document pass.
  const proto = typeof pcrs === 'object' && pcrs !== null ? (Object.getPrototypeOf(pcrs) as unknown) : undefined
  if (!Array.isArray(pcrs) && proto !== Object.prototype && proto !== null) {
    throw new TypeError('"expectedPcrs" must be a plain object of index -> value')
  }
  for (const [k, v] of Object.entries(pcrs)) {
    const index = Number(k)
    if (!/^(0|[1-9]\d?)$/.test(k) || index > 31) throw new TypeError(`"expectedPcrs": index ${k} is not 0..31`)
    const b = toBytes(v, `expectedPcrs[${k}]`)
    if (![32, 48, 64].includes(b.length)) throw new TypeError(`"expectedPcrs[${k}]" must be 32, 48 or 64 bytes`)
    out.set(index, b)
  }
  return out
}

function isZero(b: Uint8Array | undefined): boolean {
  return b !== undefined && b.every((x) => x === 0)
}

/**
 * Debug-mode enclaves report PCR0..2 as zeros. Fail closed: an enclave document whose PCR0, 1 or
 * 2 is zero or missing counts as debug. NitroTPM documents have no debug mode.
 */
export function isDebugDocument(kind: AttestationKind, pcrs: ReadonlyMap<number, Uint8Array>): boolean {
  if (kind !== 'enclave') return false
  return [0, 1, 2].some((i) => !pcrs.has(i) || isZero(pcrs.get(i)))
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

export interface PolicyOptions {
  expectedPcrs: Map<number, Uint8Array>
  allowDebug: boolean
  nonce?: Uint8Array
  userData?: Uint8Array
  /** Raw public_key bytes to match, or a KeyObject compared through its SPKI DER. */
  publicKey?: Uint8Array | KeyObject
}

/** Applies the policy; the first failing check throws PolicyError. */
export function checkPolicy(p: AttestationPayload, publicKeyDer: Uint8Array | null, o: PolicyOptions): void {
  if (!o.allowDebug && isDebugDocument(p.kind, p.pcrs)) {
    throw new PolicyError('ERR_ATTESTATION_DEBUG_MODE', 'debug-mode document (PCR0..2 are zero); pass allowDebug to accept it')
  }
  for (const [i, want] of o.expectedPcrs) {
    const got = p.pcrs.get(i)
    if (got === undefined) throw new PolicyError('ERR_ATTESTATION_PCR_MISMATCH', `PCR${i} is absent from the document`)
    if (!same(got, want)) throw new PolicyError('ERR_ATTESTATION_PCR_MISMATCH', `PCR${i} differs from the expected value`)
  }
  if (o.nonce !== undefined && (p.nonce === null || !same(p.nonce, o.nonce))) {
    throw new PolicyError('ERR_ATTESTATION_NONCE_MISMATCH', p.nonce === null ? 'document has no nonce' : 'nonce differs from the expected value')
  }
  if (o.userData !== undefined && (p.userData === null || !same(p.userData, o.userData))) {
    throw new PolicyError('ERR_ATTESTATION_USER_DATA_MISMATCH', p.userData === null ? 'document has no user_data' : 'user_data differs from the expected value')
  }
  if (o.publicKey !== undefined) {
    const want = o.publicKey instanceof KeyObject ? new Uint8Array(o.publicKey.export({ type: 'spki', format: 'der' })) : o.publicKey
    const got = o.publicKey instanceof KeyObject ? publicKeyDer : p.publicKey
    if (got === null || !same(got, want)) {
      throw new PolicyError('ERR_ATTESTATION_PUBLIC_KEY_MISMATCH', got === null ? 'document has no (SPKI) public_key' : 'public_key differs from the expected key')
    }
  }
}
