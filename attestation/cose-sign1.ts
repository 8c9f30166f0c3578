/**
 * COSE_Sign1 (RFC 9052 §4.2) as the NSM emits it: `[protected: bstr, unprotected: {}, payload:
 * bstr, signature: bstr]`, untagged or wrapped in tag 18, ES384 only. The signature is checked
 * over the protected and payload bytes exactly as received; nothing is ever re-encoded.
 * @module
 */
import { verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { CborError, CborTag, decodeCbor, type CborValue, type DecodeOptions } from '../common/cbor.js'
import { AttestationCborError, AttestationTooLargeError, CoseError, SignatureError, type AttestationErrorCode } from './errors.js'

/** The KMS Recipient limit on an attestation document (AttestationDocument: 1..262144 bytes). */
export const MAX_DOCUMENT_BYTES = 262144
/** COSE alg ES384 (RFC 9053 §2.1). */
const ES384 = -35
/** ES384 raw r||s: two 48-byte big-endian integers. */
const SIGNATURE_BYTES = 96
/** Envelope: tag 18 -> array -> header map -> (nothing deeper is legitimate). */
const ENVELOPE_OPTS: DecodeOptions = { maxDepth: 4, maxItems: 64 }

/** A structurally valid COSE_Sign1; byte fields are views into the input. */
export interface CoseSign1 {
  readonly protectedHeader: Uint8Array
  readonly payload: Uint8Array
  readonly signature: Uint8Array
  /** True when the input carried the COSE_Sign1 tag (18). */
  readonly tagged: boolean
}

const CBOR_CODES: Record<string, AttestationErrorCode> = {
  ERR_CBOR_MALFORMED: 'ERR_ATTESTATION_MALFORMED',
  ERR_CBOR_UNSUPPORTED: 'ERR_ATTESTATION_MALFORMED',
  ERR_CBOR_DUPLICATE_KEY: 'ERR_ATTESTATION_DUPLICATE_KEY',
  ERR_CBOR_TRAILING_BYTES: 'ERR_ATTESTATION_TRAILING_BYTES',
  ERR_CBOR_TOO_DEEP: 'ERR_ATTESTATION_TOO_DEEP',
  ERR_CBOR_TOO_LARGE: 'ERR_ATTESTATION_TOO_LARGE',
}

/** decodeCbor with its CborErrors re-thrown as AttestationCborError (the CborError is the cause). */
export function decodeStrict(bytes: Uint8Array, opts: DecodeOptions, what: string): CborValue {
  try {
    return decodeCbor(bytes, opts)
  } catch (e) {
    if (e instanceof CborError) {
      throw new AttestationCborError(CBOR_CODES[e.code] ?? 'ERR_ATTESTATION_MALFORMED', `${what}: ${e.message}`, { cause: e })
    }
    throw e
  }
}

/** Decodes the envelope and checks everything that needs no key: shape, headers, sizes. */
export function decodeCoseSign1(bytes: Uint8Array): CoseSign1 {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('attestation document must be a Uint8Array')
  if (bytes.length > MAX_DOCUMENT_BYTES) {
    throw new AttestationTooLargeError(`document of ${bytes.length} bytes exceeds ${MAX_DOCUMENT_BYTES}`)
  }
  let top = decodeStrict(bytes, ENVELOPE_OPTS, 'COSE_Sign1')
  let tagged = false
  if (top instanceof CborTag) {
    if (top.tag !== 18) throw new CoseError('ERR_ATTESTATION_COSE_STRUCTURE', `unexpected CBOR tag ${String(top.tag)} (COSE_Sign1 is 18)`)
    tagged = true
    top = top.value
  }
  if (!Array.isArray(top) || top.length !== 4) throw new CoseError('ERR_ATTESTATION_COSE_STRUCTURE', 'not a COSE_Sign1 array of 4 items')
  const [prot, unprot, payload, signature] = top
  if (!(prot instanceof Uint8Array)) throw new CoseError('ERR_ATTESTATION_COSE_STRUCTURE', 'protected header is not a byte string')
  if (!(unprot instanceof Map)) throw new CoseError('ERR_ATTESTATION_COSE_STRUCTURE', 'unprotected header is not a map')
  if (!(payload instanceof Uint8Array)) throw new CoseError('ERR_ATTESTATION_COSE_STRUCTURE', 'payload is not a byte string (detached payloads are not supported)')
  if (!(signature instanceof Uint8Array)) throw new CoseError('ERR_ATTESTATION_COSE_STRUCTURE', 'signature is not a byte string')
  if (payload.length === 0) throw new CoseError('ERR_ATTESTATION_COSE_STRUCTURE', 'empty payload')

  // Exactly {1: -35}: no other parameter may ride along under the signature unexamined.
  const header = prot.length === 0 ? null : decodeStrict(prot, { maxDepth: 2, maxItems: 16 }, 'protected header')
  if (!(header instanceof Map) || header.size !== 1 || header.get(1) !== ES384) {
    throw new CoseError('ERR_ATTESTATION_COSE_HEADER', 'protected header must be exactly {1: -35} (ES384)')
  }
  // Unprotected parameters are not covered by the signature; the NSM sends none, so accept none.
  if (unprot.size !== 0) throw new CoseError('ERR_ATTESTATION_COSE_HEADER', 'unprotected header must be empty')
  if (signature.length !== SIGNATURE_BYTES) {
    throw new SignatureError('ERR_ATTESTATION_SIGNATURE_FORMAT', `signature is ${signature.length} bytes, ES384 needs ${SIGNATURE_BYTES} (raw r||s)`)
  }
  return { protectedHeader: prot, payload, signature, tagged }
}

/** CBOR head for a byte string of length n (shortest form, as RFC 9052 §9 deterministic encoding). */
function bstrHead(n: number): Uint8Array {
  if (n < 24) return Uint8Array.of(0x40 | n)
  if (n < 0x100) return Uint8Array.of(0x58, n)
  if (n < 0x10000) return Uint8Array.of(0x59, n >> 8, n & 0xff)
  return Uint8Array.of(0x5a, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
}

// 0x84: array(4); 0x6a "Signature1": context string.
const SIG1_PREFIX = Buffer.from('846a5369676e617475726531', 'hex')
const EMPTY_AAD = Uint8Array.of(0x40)

/** Sig_structure = ["Signature1", protected, h'' (external_aad), payload] (RFC 9052 §4.4). */
export function sigStructure(protectedHeader: Uint8Array, payload: Uint8Array): Buffer {
  return Buffer.concat([SIG1_PREFIX, bstrHead(protectedHeader.length), protectedHeader, EMPTY_AAD, bstrHead(payload.length), payload])
}

/** Verifies the ES384 signature with `key` (the leaf certificate's); high-S values are accepted, as AWS does not normalise. */
export function verifyCoseSignature(cose: CoseSign1, key: KeyObject): void {
  let ok = false
  try {
    ok = cryptoVerify('sha384', sigStructure(cose.protectedHeader, cose.payload), { key, dsaEncoding: 'ieee-p1363' }, cose.signature)
  } catch {
    ok = false
  }
  if (!ok) throw new SignatureError('ERR_ATTESTATION_SIGNATURE', 'COSE signature does not verify with the leaf certificate key')
}
