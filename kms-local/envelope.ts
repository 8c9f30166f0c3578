/**
 * Builds `CiphertextForRecipient` in KMS's exact byte layout (two real KMS responses kept by
 * aws-nitro-enclaves-sdk-c's `cms_test.c` are the reference): BER ContentInfo/EnvelopedData with
 * indefinite lengths at the outer levels, EnvelopedData v2 with exactly one KeyTransRecipientInfo v2
 * whose rid is a 32-byte subjectKeyIdentifier, RSAES-OAEP (SHA-256, MGF1-SHA-256, empty label) key
 * transport, AES-256-CBC content encryption with a random IV, and the encryptedContent as a
 * constructed, indefinite `[0]` of OCTET STRING chunks. sdk-c, enclaver and `enclave-app/cms` accept
 * it; so does `openssl cms -decrypt`.
 * @module
 */
import { constants, createCipheriv, createHash, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto'

/** OID 1.2.840.113549.1.7.3 id-envelopedData, full TLV. */
const OID_ENVELOPED_DATA = Buffer.from('06092a864886f70d010703', 'hex')
/** OID 1.2.840.113549.1.7.1 id-data. */
const OID_DATA = Buffer.from('06092a864886f70d010701', 'hex')
/** AlgorithmIdentifier { id-RSAES-OAEP, { [0] {sha256, NULL}, [1] {id-mgf1, {sha256, NULL}} } }, as KMS encodes it. */
const ALG_RSAES_OAEP_SHA256 = Buffer.from(
  '303c06092a864886f70d010107302fa00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500',
  'hex',
)
/** OID 2.16.840.1.101.3.4.1.42 aes256-CBC. */
const OID_AES256_CBC = Buffer.from('060960864801650304012a', 'hex')
const INDEFINITE_SEQUENCE = Buffer.from([0x30, 0x80])
const INDEFINITE_CONTEXT_0 = Buffer.from([0xa0, 0x80])
const EOC = Buffer.from([0x00, 0x00])
const VERSION_2 = Buffer.from([0x02, 0x01, 0x02])

/** Chunk size of the constructed encryptedContent (X.690 §9.2's CER segment size; KMS's own is unknown beyond 48 bytes). */
export const CONTENT_CHUNK = 1000

/** A definite-length DER TLV (minimal length octets). */
export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content)
  const n = body.length
  let len: Buffer
  if (n < 0x80) len = Buffer.from([n])
  else if (n < 0x100) len = Buffer.from([0x81, n])
  else if (n < 0x10000) len = Buffer.from([0x82, n >> 8, n & 0xff])
  else len = Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff])
  return Buffer.concat([Buffer.from([tag]), len, body])
}

/**
 * The rid KMS puts in its envelopes is a 32-byte subjectKeyIdentifier whose derivation is not
 * documented; SHA-256 over the recipient's DER SubjectPublicKeyInfo is a guess. No client matches on it.
 */
export function recipientKeyIdentifier(publicKey: KeyObject): Buffer {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest()
}

/**
 * Encrypts `plaintext` to `publicKey` (an RSA public key) in KMS's envelope layout.
 * The content-encryption key is random per call and zeroed after use.
 */
export function buildRecipientEnvelope(plaintext: Uint8Array, publicKey: KeyObject): Buffer {
  if (publicKey.type !== 'public' || publicKey.asymmetricKeyType !== 'rsa') throw new TypeError('"publicKey" must be an RSA public KeyObject')
  const cek = randomBytes(32)
  const iv = randomBytes(16)
  try {
    const encryptedKey = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek)
    const cipher = createCipheriv('aes-256-cbc', cek, iv)
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
    const chunks: Buffer[] = []
    for (let i = 0; i < ciphertext.length; i += CONTENT_CHUNK) {
      chunks.push(tlv(0x04, ciphertext.subarray(i, i + CONTENT_CHUNK)))
    }
    const ktri = tlv(0x30, VERSION_2, tlv(0x80, recipientKeyIdentifier(publicKey)), ALG_RSAES_OAEP_SHA256, tlv(0x04, encryptedKey))
    return Buffer.concat([
      INDEFINITE_SEQUENCE, // ContentInfo
      OID_ENVELOPED_DATA,
      INDEFINITE_CONTEXT_0, // [0] EXPLICIT
      INDEFINITE_SEQUENCE, // EnvelopedData
      VERSION_2,
      tlv(0x31, ktri), // recipientInfos SET (definite, as KMS)
      INDEFINITE_SEQUENCE, // EncryptedContentInfo
      OID_DATA,
      tlv(0x30, OID_AES256_CBC, tlv(0x04, iv)),
      INDEFINITE_CONTEXT_0, // encryptedContent [0] IMPLICIT, constructed
      ...chunks,
      EOC, // [0]
      EOC, // EncryptedContentInfo
      EOC, // EnvelopedData
      EOC, // [0] EXPLICIT
      EOC, // ContentInfo
    ])
  } finally {
    cek.fill(0)
  }
}
