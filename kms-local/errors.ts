/**
 * KMS exceptions as typed errors. Each carries KMS's wire name (`__type`), the HTTP status KMS
 * sends over awsJson1_1 (400 for every client error, as AWS-recorded responses show; the Smithy
 * model's 409/412 values are the query protocol's, not what KMS sends), and a stable NitroError
 * `code` (`ERR_KMS_<NAME>`). The server turns them into `{"__type","message"}` bodies.
 * @module
 */
import { NitroError } from '../common/errors.js'

/** Every KMS exception name kms-local can return, with its status. */
export const KMS_EXCEPTIONS = {
  AccessDeniedException: 400,
  AlreadyExistsException: 400,
  CustomKeyStoreNotFoundException: 400,
  DisabledException: 400,
  DryRunOperationException: 400,
  IncorrectKeyException: 400,
  IncompleteSignatureException: 400,
  InvalidAliasNameException: 400,
  InvalidArnException: 400,
  InvalidCiphertextException: 400,
  InvalidGrantTokenException: 400,
  InvalidKeyUsageException: 400,
  InvalidMarkerException: 400,
  InvalidSignatureException: 400,
  KMSInternalException: 500,
  KMSInvalidSignatureException: 400,
  KMSInvalidStateException: 400,
  LimitExceededException: 400,
  MalformedPolicyDocumentException: 400,
  MissingAuthenticationTokenException: 400,
  NotFoundException: 400,
  RequestEntityTooLargeException: 413,
  SerializationException: 400,
  TagException: 400,
  UnknownOperationException: 400,
  UnrecognizedClientException: 400,
  UnsupportedOperationException: 400,
  ValidationException: 400,
} as const

export type KmsExceptionName = keyof typeof KMS_EXCEPTIONS

/** Exceptions whose body KMS writes with a capital `Message` (sdk-c #127, #157). */
const CAPITAL_MESSAGE: ReadonlySet<KmsExceptionName> = new Set(['AccessDeniedException'])

function codeOf(name: string): string {
  return `ERR_KMS_${name
    .replace(/Exception$/, '')
    .replace(/^KMS/, 'Kms')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase()}`
}

/** A KMS exception: `name` is the wire `__type`. */
export class KmsError extends NitroError {
  /** KMS's exception name, sent as `__type`. */
  readonly type: KmsExceptionName
  /** HTTP status sent with it. */
  readonly status: number
  /** Message sent on the wire (`undefined`: the member is left out, as KMS does for InvalidCiphertext). */
  readonly wireMessage: string | undefined

  constructor(type: KmsExceptionName, message?: string, options?: { cause?: unknown }) {
    super(codeOf(type), message ?? type, options)
    this.type = type
    this.status = KMS_EXCEPTIONS[type]
    this.wireMessage = message
  }

  /** The response body KMS would send. */
  body(): Record<string, string> {
    const out: Record<string, string> = { __type: this.type }
    if (this.wireMessage !== undefined) out[CAPITAL_MESSAGE.has(this.type) ? 'Message' : 'message'] = this.wireMessage
    return out
  }
}

/** Shorthand used by the operations: `throw kms('NotFoundException', '...')`. */
export function kms(type: KmsExceptionName, message?: string): KmsError {
  return new KmsError(type, message)
}

/** The DryRun answer when the call would have succeeded (AWS-recorded message). */
export function dryRunSucceeded(): KmsError {
  return kms('DryRunOperationException', 'The request would have succeeded, but the DryRun option is set.')
}

/** kms-local's own (non-KMS) failures: configuration and storage. */
export class KmsLocalError extends NitroError {}

/** Stable codes of kms-local's own errors. */
export const KMS_LOCAL_CODES = [
  'ERR_KMS_LOCAL_CONFIG',
  'ERR_KMS_LOCAL_MASTER_KEY',
  'ERR_KMS_LOCAL_STORE',
  'ERR_KMS_LOCAL_SEED',
] as const
