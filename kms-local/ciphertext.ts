/**
 * kms-local's CiphertextBlob format (KMS's own is opaque; clients only pass it back):
 *
 * ```
 * "KL" 0x01 | key ID (16-byte UUID) | IV (12) | GCM tag (16) | AES-256-GCM ciphertext
 * ```
 *
 * The additional authenticated data binds the format version, the key ID and the encryption
 * context. The context is encoded unambiguously: a u32 pair count, then each pair (sorted by the
 * key's UTF-8 bytes) as u32-length-prefixed key and value. The sorted `key||value` concatenation
 * other emulators use makes `{"ab":"c"}` and `{"a":"bc"}` the same AAD; this does not.
 * @module
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { kms } from './errors.js'

const MAGIC = Buffer.from([0x4b, 0x4c, 0x01])
const HEADER = MAGIC.length + 16
const OVERHEAD = HEADER + 12 + 16
const AAD_LABEL = Buffer.from('nitro-recipient kms-local ciphertext v1\0')

/** Length-prefixed, sorted encoding of an encryption context. */
export function encodeEncryptionContext(ctx: Readonly<Record<string, string>> | undefined): Buffer {
  const entries = Object.entries(ctx ?? {}).map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const)
  entries.sort((a, b) => Buffer.compare(a[0], b[0]))
  const parts: Buffer[] = [u32(entries.length)]
  for (const [k, v] of entries) parts.push(u32(k.length), k, u32(v.length), v)
  return Buffer.concat(parts)
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

export function uuidToBytes(id: string): Buffer {
  return Buffer.from(id.replace(/-/g, ''), 'hex')
}

function bytesToUuid(b: Buffer): string {
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

function aad(keyIdBytes: Buffer, ctx: Readonly<Record<string, string>> | undefined): Buffer {
  return Buffer.concat([AAD_LABEL, keyIdBytes, encodeEncryptionContext(ctx)])
}

/** Encrypts `plaintext` under a symmetric key's 32-byte material. */
export function sealCiphertext(keyId: string, material: Buffer, plaintext: Uint8Array, ctx?: Readonly<Record<string, string>>): Buffer {
  const id = uuidToBytes(keyId)
  const iv = randomBytes(12)
  const c = createCipheriv('aes-256-gcm', material, iv)
  c.setAAD(aad(id, ctx))
  const ct = Buffer.concat([c.update(plaintext), c.final()])
  return Buffer.concat([MAGIC, id, iv, c.getAuthTag(), ct])
}

/**
 * The key ID a blob names, before any decryption.
 * @throws {KmsError} InvalidCiphertextException (no message, as KMS) when it is not a kms-local blob
 */
export function ciphertextKeyId(blob: Buffer): string {
  if (blob.length < OVERHEAD || !blob.subarray(0, MAGIC.length).equals(MAGIC)) throw kms('InvalidCiphertextException')
  return bytesToUuid(blob.subarray(MAGIC.length, HEADER))
}

/**
 * Decrypts a blob; every failure (tampering, another key, a different context) is the same
 * InvalidCiphertextException without a message.
 */
export function openCiphertext(blob: Buffer, material: Buffer, ctx?: Readonly<Record<string, string>>): Buffer {
  if (blob.length < OVERHEAD || !blob.subarray(0, MAGIC.length).equals(MAGIC)) throw kms('InvalidCiphertextException')
  const id = blob.subarray(MAGIC.length, HEADER)
  try {
    const d = createDecipheriv('aes-256-gcm', material, blob.subarray(HEADER, HEADER + 12))
    d.setAAD(aad(id, ctx))
    d.setAuthTag(blob.subarray(HEADER + 12, OVERHEAD))
    return Buffer.concat([d.update(blob.subarray(OVERHEAD)), d.final()])
  } catch {
    throw kms('InvalidCiphertextException')
  }
}
