/**
 * CMS `CiphertextForRecipient` (KMS's EnvelopedData profile): strict BER parsing and decryption.
 * @module
 */
export { decryptRecipientEnvelope } from './decrypt.js'
export { parseRecipientEnvelope, type RecipientEnvelope } from './envelope.js'
export { parseBer, DEFAULT_BER_LIMITS, type BerLimits, type BerNode } from './ber.js'
export { CmsError, CmsMalformed, CmsTooLarge, CmsUnsupported, CmsDecryptionFailed, type CmsErrorCode } from './errors.js'
