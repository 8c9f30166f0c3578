/**
 * Errors of the CMS `CiphertextForRecipient` parser and decryptor.
 *
 * Structure errors (the envelope is not the KMS profile) carry a specific code: the envelope's
 * layout is public, so saying which part is wrong leaks nothing. Everything that involves the
 * private key or the content key is ONE opaque {@link CmsDecryptionFailed}, whatever went wrong
 * (RSA-OAEP, content-key length, AES-CBC padding), like jose's JWEDecryptionFailed.
 * @module
 */
import { NitroError } from '../../common/errors.js'

export type CmsErrorCode =
  | 'ERR_CMS_MALFORMED'
  | 'ERR_CMS_TOO_LARGE'
  | 'ERR_CMS_UNSUPPORTED'
  | 'ERR_CMS_DECRYPTION_FAILED'

/** Base of every CMS error. */
export class CmsError extends NitroError {
  declare readonly code: CmsErrorCode
  constructor(code: CmsErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}

/** The bytes are not valid BER, or not the structure RFC 5652 requires. */
export class CmsMalformed extends CmsError {
  constructor(message: string) {
    super('ERR_CMS_MALFORMED', `malformed CMS envelope: ${message}`)
  }
}

/** Input beyond the size, depth or element bounds. */
export class CmsTooLarge extends CmsError {
  constructor(message: string) {
    super('ERR_CMS_TOO_LARGE', `CMS envelope too large: ${message}`)
  }
}

/** Valid CMS, but not the one profile KMS emits (algorithms, versions, recipient count). */
export class CmsUnsupported extends CmsError {
  constructor(message: string) {
    super('ERR_CMS_UNSUPPORTED', `unsupported CMS envelope: ${message}`)
  }
}

/** The one error for every failure that touches the private key or the content key. */
export class CmsDecryptionFailed extends CmsError {
  constructor() {
    super('ERR_CMS_DECRYPTION_FAILED', 'decryption operation failed')
  }
}
