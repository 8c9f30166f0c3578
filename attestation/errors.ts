/**
 * The attestation verifier's errors. Every rejection is an {@link AttestationError} with one of
 * the stable codes below; callers switch on `code`, never on the message.
 * @module
 */
import { NitroError } from '../common/errors.js'

/** Every code an attestation verification can fail with. */
export const ATTESTATION_ERROR_CODES = [
  /** The input exceeds the size cap (262144 bytes, the KMS limit) or the CBOR item bound (a declared length past the input is MALFORMED). */
  'ERR_ATTESTATION_TOO_LARGE',
  /** Malformed or truncated CBOR, or a CBOR feature the format does not allow (floats, tags, ...). */
  'ERR_ATTESTATION_MALFORMED',
  /** A CBOR map repeats a key. */
  'ERR_ATTESTATION_DUPLICATE_KEY',
  /** Bytes follow the end of the CBOR item. */
  'ERR_ATTESTATION_TRAILING_BYTES',
  /** CBOR nesting deeper than the bound. */
  'ERR_ATTESTATION_TOO_DEEP',
  /** Not a COSE_Sign1: wrong tag, not a 4-element array, members of the wrong type. */
  'ERR_ATTESTATION_COSE_STRUCTURE',
  /** Protected header is not exactly {1: -35} (ES384), or the unprotected header is not empty. */
  'ERR_ATTESTATION_COSE_HEADER',
  /** The signature is not a 96-byte raw r||s value. */
  'ERR_ATTESTATION_SIGNATURE_FORMAT',
  /** The COSE signature does not verify with the leaf certificate's key. */
  'ERR_ATTESTATION_SIGNATURE',
  /** The payload does not match the attestation document schema (see `field`). */
  'ERR_ATTESTATION_SCHEMA',
  /** A certificate is not strict DER or uses an unsupported algorithm, key or critical extension. */
  'ERR_ATTESTATION_CERTIFICATE_MALFORMED',
  /** cabundle[0] is not one of the pinned trust anchors. */
  'ERR_ATTESTATION_CHAIN_UNTRUSTED',
  /** A certificate's issuer is not its parent's subject. */
  'ERR_ATTESTATION_CHAIN_ISSUER',
  /** A certificate's signature does not verify with its parent's key. */
  'ERR_ATTESTATION_CHAIN_SIGNATURE',
  /** basicConstraints / keyUsage / pathLen rules are violated. */
  'ERR_ATTESTATION_CHAIN_CONSTRAINTS',
  /** A certificate's notAfter is before the verification time. */
  'ERR_ATTESTATION_CERTIFICATE_EXPIRED',
  /** A certificate's notBefore is after the verification time. */
  'ERR_ATTESTATION_CERTIFICATE_NOT_YET_VALID',
  /** The document timestamp is after the verification time or outside its leaf certificate's window. */
  'ERR_ATTESTATION_TIMESTAMP',
  /** The document is older than `maxAgeMs`. */
  'ERR_ATTESTATION_STALE',
  /** A PCR differs from the expected value, or an expected PCR is absent. */
  'ERR_ATTESTATION_PCR_MISMATCH',
  /** A debug-mode document (PCR0..2 zero) and `allowDebug` is not set. */
  'ERR_ATTESTATION_DEBUG_MODE',
  /** The nonce differs from the expected one. */
  'ERR_ATTESTATION_NONCE_MISMATCH',
  /** The user_data differs from the expected value. */
  'ERR_ATTESTATION_USER_DATA_MISMATCH',
  /** The public_key differs from the expected key. */
  'ERR_ATTESTATION_PUBLIC_KEY_MISMATCH',
] as const

export type AttestationErrorCode = (typeof ATTESTATION_ERROR_CODES)[number]

/** Base of every attestation failure. */
export class AttestationError extends NitroError {
  declare readonly code: AttestationErrorCode

  constructor(code: AttestationErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}

/** Input over the size cap. */
export class AttestationTooLargeError extends AttestationError {
  constructor(message: string) {
    super('ERR_ATTESTATION_TOO_LARGE', message)
  }
}

/** Bad CBOR: malformed, duplicate keys, trailing bytes or too deep (the code says which). */
export class AttestationCborError extends AttestationError {}

/** The COSE_Sign1 envelope or its headers are wrong. */
export class CoseError extends AttestationError {}

/** The COSE signature is malformed or does not verify. */
export class SignatureError extends AttestationError {}

/** The payload violates the schema; `field` names the offending payload key. */
export class SchemaError extends AttestationError {
  readonly field: string

  constructor(field: string, message: string) {
    super('ERR_ATTESTATION_SCHEMA', `${field}: ${message}`)
    this.field = field
  }
}

/** A certificate cannot be parsed strictly or uses something unsupported; `index` is its chain position (root = 0). */
export class CertificateError extends AttestationError {
  readonly index: number

  constructor(index: number, message: string, code: AttestationErrorCode = 'ERR_ATTESTATION_CERTIFICATE_MALFORMED') {
    super(code, `certificate ${index}: ${message}`)
    this.index = index
  }
}

/** The chain does not lead to a trust anchor, or a link, constraint or validity window fails. */
export class ChainError extends CertificateError {}

/** Freshness checks on the document timestamp. */
export class TimestampError extends AttestationError {}

/** A policy check (PCRs, debug mode, nonce, user_data, public key) failed. */
export class PolicyError extends AttestationError {}
