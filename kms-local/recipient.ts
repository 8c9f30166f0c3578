/**
 * The `Recipient` parameter: verify the attestation document with `attestation/` against the
 * configured trust anchors (AWS Nitro Root-G1 unless told otherwise; a development root such as
 * the NSM simulator's only when configured), require RSAES_OAEP_SHA_256 and an RSA-2048 DER SPKI
 * public key, and produce the `kms:RecipientAttestation:*` condition keys. Fails closed: any
 * problem is an error, never a fallback to a plaintext answer.
 * @module
 */
import type { KeyObject } from 'node:crypto'
import { AttestationError, decodeAttestationDocument, verifyAttestation } from '../attestation/index.js'
import type { Logger } from '../common/log.js'
import { kms } from './errors.js'
import { attestationContext } from './policy.js'

export interface RecipientConfig {
  /** PEM or DER trust anchors. Default: AWS Nitro Root-G1 only. */
  trustAnchors?: readonly (string | Uint8Array)[]
  /** Verify at the document's own timestamp (replaying recorded documents); logged as a warning on each use. */
  verifyAtDocumentTime?: boolean
  /** Reject documents older than this (ms). Default: only the certificate windows limit age. */
  maxAgeMs?: number
  logger?: Logger
}

/** A verified recipient: the key to encrypt to and the policy condition keys. */
export interface VerifiedRecipient {
  publicKey: KeyObject
  context: Map<string, string>
  moduleId: string
  kind: 'enclave' | 'nitrotpm'
  debug: boolean
}

/** The `Recipient` request member after schema validation. */
export interface RecipientRequest {
  AttestationDocument: Buffer
  KeyEncryptionAlgorithm: string
}

/**
 * Verifies a `Recipient` at `now` (the service's clock, the one SigV4 was checked against), or at
 * the document's own timestamp when so configured.
 * @throws {KmsError} ValidationException when the document does not verify or carries no RSA-2048 key
 */
export async function verifyRecipient(r: RecipientRequest, cfg: RecipientConfig, now: Date = new Date()): Promise<VerifiedRecipient> {
  if (r.KeyEncryptionAlgorithm !== 'RSAES_OAEP_SHA_256') {
    throw kms('ValidationException', 'Recipient KeyEncryptionAlgorithm must be RSAES_OAEP_SHA_256')
  }
  let at = now
  if (cfg.verifyAtDocumentTime === true) {
    try {
      at = new Date(decodeAttestationDocument(r.AttestationDocument).timestamp)
    } catch (e) {
      throw invalid(e)
    }
    cfg.logger?.warn({ at: at.toISOString() }, 'verifying a Recipient attestation document at its own timestamp, not now (--verify-at-document-time)')
  }
  let result
  try {
    result = await verifyAttestation(r.AttestationDocument, {
      ...(cfg.trustAnchors !== undefined ? { trustAnchors: cfg.trustAnchors } : {}),
      at,
      ...(cfg.maxAgeMs !== undefined ? { maxAgeMs: cfg.maxAgeMs } : {}),
      // KMS accepts debug-mode documents; their all-zero PCRs fail any PCR condition in the key policy.
      allowDebug: true,
    })
  } catch (e) {
    throw invalid(e)
  }
  const key = result.publicKey
  if (key === null || key.asymmetricKeyType !== 'rsa' || key.asymmetricKeyDetails?.modulusLength !== 2048 || !usableRsaKey(key)) {
    throw kms('ValidationException', 'The attestation document must include an RSA-2048 public key encoded as a DER SubjectPublicKeyInfo.')
  }
  return { publicKey: key, context: attestationContext(result.kind, result.pcrs), moduleId: result.moduleId, kind: result.kind, debug: result.debug }
}

/**
 * The checks BoringSSL/AWS-LC make of an RSA public key: an odd modulus and an odd exponent from
 * 3 up to 33 bits. node:crypto imports keys without them, and then e = 1 "encrypts" the
 * OAEP-encoded content key to itself (readable by anyone: a plaintext answer in disguise), e = 0
 * loses it, and an even modulus or a huge exponent makes the envelope throw (a 500).
 */
function usableRsaKey(key: KeyObject): boolean {
  const e = key.asymmetricKeyDetails?.publicExponent
  if (e === undefined || e < 3n || e >= 1n << 33n || (e & 1n) === 0n) return false
  const n = Buffer.from(key.export({ format: 'jwk' }).n ?? '', 'base64url')
  return n.length > 0 && (n[n.length - 1] & 1) === 1
}

function invalid(e: unknown): Error {
  if (e instanceof AttestationError) {
    return kms('ValidationException', `The attestation document in Recipient is not valid (${e.code}).`)
  }
  return e instanceof Error ? e : new Error(String(e))
}
