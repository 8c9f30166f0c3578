/**
 * Errors of the in-enclave client. CMS and attestation failures keep their own classes
 * (`enclave-app/cms`, `nsm`); these cover the client's own checks.
 * @module
 */
import { NitroError } from '../common/errors.js'

export type EnclaveAppErrorCode =
  | 'ERR_ENCLAVE_APP_KMS_RESPONSE'
  | 'ERR_ENCLAVE_APP_KMS_REQUEST'
  | 'ERR_ENCLAVE_APP_TRANSPORT'

export class EnclaveAppError extends NitroError {
  declare readonly code: EnclaveAppErrorCode
  constructor(code: EnclaveAppErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}

/**
 * KMS answered without the member the Recipient flow needs, or with a plaintext member it must
 * omit when a Recipient is given (a KMS or emulator that ignores Recipient would leak the secret
 * to the parent; we refuse such an answer rather than use it).
 */
export class KmsResponseError extends EnclaveAppError {
  constructor(message: string) {
    super('ERR_ENCLAVE_APP_KMS_RESPONSE', `unexpected KMS response: ${message}`)
  }
}

/** KMS (or the path to it) rejected the request; `cause` holds the SDK's error with its `name`. */
export class KmsRequestError extends EnclaveAppError {
  /** The KMS exception name (`AccessDeniedException`, ...) when KMS sent one. */
  readonly kmsError: string | undefined
  constructor(operation: string, cause: unknown) {
    const name = typeof cause === 'object' && cause !== null && 'name' in cause ? String((cause as { name: unknown }).name) : undefined
    const message = cause instanceof Error ? cause.message : String(cause)
    super('ERR_ENCLAVE_APP_KMS_REQUEST', `${operation} failed: ${name ?? 'error'}: ${message}`, { cause })
    this.kmsError = name
  }
}

/** The stream or TLS set-up to the KMS endpoint was refused before anything was sent. */
export class TransportError extends EnclaveAppError {
  constructor(message: string) {
    super('ERR_ENCLAVE_APP_TRANSPORT', message)
  }
}
