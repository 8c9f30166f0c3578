/**
 * Verification of AWS Nitro attestation documents: strict COSE_Sign1/CBOR decoding, the
 * certificate chain to a pinned AWS root, the ES384 signature, freshness and PCR/nonce policy.
 * @module
 */
export { verifyAttestation, verifyAttestationSync, decodeAttestationDocument, anchorSet } from './verify.js'
export type { VerifyOptions, AttestationResult } from './verify.js'
export type { AttestationKind, AttestationPayload } from './payload.js'
export { LIMITS } from './payload.js'
export type { ChainCertificate } from './chain.js'
export type { BytesLike } from './policy.js'
export { isDebugDocument } from './policy.js'
export { VerificationCache, defaultVerificationCache } from './cache.js'
export { MAX_DOCUMENT_BYTES, sigStructure } from './cose-sign1.js'
export { AWS_NITRO_ROOT_G1_PEM, AWS_NITRO_ROOT_G1_SHA256, awsNitroRootG1Der } from './root-g1.js'
export {
  ATTESTATION_ERROR_CODES,
  AttestationError,
  AttestationTooLargeError,
  AttestationCborError,
  CoseError,
  SignatureError,
  SchemaError,
  CertificateError,
  ChainError,
  TimestampError,
  PolicyError,
} from './errors.js'
export type { AttestationErrorCode } from './errors.js'
