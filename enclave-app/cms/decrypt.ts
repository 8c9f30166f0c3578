/**
 * Opens KMS's `CiphertextForRecipient` with the enclave's ephemeral RSA private key.
 * @module
 */
import { constants, createDecipheriv, privateDecrypt, randomBytes, type KeyObject } from 'node:crypto'
import { DEFAULT_BER_LIMITS, type BerLimits } from './ber.js'
import { parseRecipientEnvelope } from './envelope.js'
import { CmsDecryptionFailed } from './errors.js'

/**
 * Parses `ber` (KMS's profile only, see {@link parseRecipientEnvelope}) and decrypts it:
 * RSAES-OAEP (SHA-256, MGF1-SHA-256, empty label) unwraps the AES-256 content key, AES-256-CBC
 * (PKCS#7 padding) decrypts the content. The content key is zeroed after use.
 *
 * Every failure past parsing throws the same {@link CmsDecryptionFailed}: when the RSA unwrap fails
 * or yields a key that is not 32 bytes, a random key is used instead (RFC 3218 §2.3.2, as jose does)
 * so the caller cannot tell an OAEP failure from a padding failure.
 *
 * @param ber the `CiphertextForRecipient` bytes
 * @param privateKey the RSA private key whose public half was in the attestation document
 * @returns the plaintext (the caller zeroes it when done)
 * @throws {CmsMalformed | CmsUnsupported | CmsTooLarge} the envelope is not KMS's profile
 * @throws {CmsDecryptionFailed} anything else
 * @example
 * ```ts
 * const dataKey = decryptRecipientEnvelope(resp.CiphertextForRecipient!, keyPair.privateKey)
 * ```
 */
export function decryptRecipientEnvelope(ber: Uint8Array, privateKey: KeyObject, limits: BerLimits = DEFAULT_BER_LIMITS): Buffer {
  if (typeof privateKey !== 'object' || privateKey === null || privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'rsa') {
    throw new TypeError('"privateKey" must be an RSA private KeyObject')
  }
  const env = parseRecipientEnvelope(ber, limits)
  let cek: Buffer
  let unwrapped = true
  try {
    cek = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, env.encryptedKey)
  } catch {
    cek = randomBytes(32)
    unwrapped = false
  }
  if (cek.length !== 32) {
    cek.fill(0)
    cek = randomBytes(32)
    unwrapped = false
  }
  let head: Buffer | undefined
  let tail: Buffer | undefined
  try {
    // CBC has no integrity check: a random key still "decrypts" (and 1 in ~256 times even has
    // valid padding), so the AES work is done either way and the unwrap result decides at the end.
    const decipher = createDecipheriv('aes-256-cbc', cek, env.iv)
    head = decipher.update(env.ciphertext)
    tail = decipher.final()
    const out = Buffer.concat([head, tail])
    if (!unwrapped) {
      out.fill(0)
      throw new CmsDecryptionFailed()
    }
    return out
  } catch {
    throw new CmsDecryptionFailed()
  } finally {
    // `head` holds every block but the last even when the padding check then fails.
    head?.fill(0)
    tail?.fill(0)
    cek.fill(0)
  }
}
