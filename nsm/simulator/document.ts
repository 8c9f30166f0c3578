/**
 * Builds attestation documents laid out byte for byte like current real ones
 * (attestation.md §1.1-1.3; fixtures from 2025-11 on): an untagged COSE_Sign1
 * `[h'a10138 22', {}, payload, signature]`, the payload an indefinite-length map with AWS's key
 * order (module_id, digest, timestamp, pcrs, certificate, cabundle, public_key, user_data,
 * nonce), null for absent optional fields, `pcrs` a definite map in ascending index order,
 * `cabundle` root first, and a 96-byte raw r||s ES384 signature over the RFC 8152 Sig_structure.
 * @module
 */
import { sign, type KeyObject } from 'node:crypto'
import { CborIndefiniteMap, encodeCbor, type EncodableValue } from '../../common/cbor.js'

/** `{1: -35}` (alg: ES384), as real documents carry it. */
export const PROTECTED_HEADER = encodeCbor(new Map([[1, -35]]))

export interface DocumentFields {
  moduleId: string
  /** Milliseconds since the epoch. */
  timestamp: number
  /** Index -> 48-byte value, ascending. */
  pcrs: ReadonlyMap<number, Uint8Array>
  certificate: Uint8Array
  /** Root first. */
  cabundle: readonly Uint8Array[]
  publicKey: Uint8Array | null
  userData: Uint8Array | null
  nonce: Uint8Array | null
}

/** The payload bytes (exported for layout tests). */
export function encodePayload(f: DocumentFields): Uint8Array {
  const pcrs = new Map<number, EncodableValue>([...f.pcrs.entries()].sort((a, b) => a[0] - b[0]))
  const map = new CborIndefiniteMap([
    ['module_id', f.moduleId],
    ['digest', 'SHA384'],
    ['timestamp', f.timestamp],
    ['pcrs', pcrs],
    ['certificate', f.certificate],
    ['cabundle', [...f.cabundle]],
    ['public_key', f.publicKey],
    ['user_data', f.userData],
    ['nonce', f.nonce],
  ])
  return encodeCbor(map)
}

/** RFC 8152 §4.4 Sig_structure for COSE_Sign1 with empty external_aad. */
export function sigStructure(protectedHeader: Uint8Array, payload: Uint8Array): Uint8Array {
  return encodeCbor(['Signature1', protectedHeader, new Uint8Array(0), payload])
}

/** Signs and assembles the document with the leaf's private key. */
export function buildDocument(f: DocumentFields, leafKey: KeyObject): Uint8Array {
  const payload = encodePayload(f)
  const signature = sign('sha384', sigStructure(PROTECTED_HEADER, payload), { key: leafKey, dsaEncoding: 'ieee-p1363' })
  return encodeCbor([PROTECTED_HEADER, new Map(), payload, signature])
}
