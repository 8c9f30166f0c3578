/**
 * RSA signatures over a precomputed digest (KMS `MessageType: DIGEST`). node:crypto signs messages
 * only, so the encodings are done here and the raw RSA operation by node:crypto:
 * RSASSA-PKCS1-v1_5 (RFC 8017 §8.2, DigestInfo + `privateEncrypt` with PKCS#1 type-1 padding) and
 * RSASSA-PSS (RFC 8017 §9.1, EMSA-PSS with MGF1 of the same hash and salt = digest length, then
 * `privateEncrypt` without padding). ECDSA over a digest is not possible with node:crypto.
 * @module
 */
import { constants, createHash, privateEncrypt, publicDecrypt, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto'

/** DER DigestInfo prefixes (RFC 8017 §9.2 note 1). */
const DIGEST_INFO: Record<string, Buffer> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
}

export const HASH_BYTES: Record<string, number> = { sha256: 32, sha384: 48, sha512: 64 }

function mgf1(hash: string, seed: Buffer, length: number): Buffer {
  const out: Buffer[] = []
  for (let i = 0; out.length * HASH_BYTES[hash] < length; i++) {
    const c = Buffer.alloc(4)
    c.writeUInt32BE(i)
    out.push(createHash(hash).update(seed).update(c).digest())
  }
  return Buffer.concat(out).subarray(0, length)
}

function modulusBits(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength
  if (bits === undefined) throw new TypeError('not an RSA key')
  return bits
}

/** EMSA-PSS-ENCODE with sLen = hLen. */
function pssEncode(hash: string, digest: Buffer, emBits: number, salt: Buffer): Buffer {
  const hLen = HASH_BYTES[hash]
  const emLen = Math.ceil(emBits / 8)
  const h = createHash(hash).update(Buffer.alloc(8)).update(digest).update(salt).digest()
  const db = Buffer.concat([Buffer.alloc(emLen - salt.length - hLen - 2), Buffer.from([1]), salt])
  const mask = mgf1(hash, h, emLen - hLen - 1)
  for (let i = 0; i < db.length; i++) db[i] ^= mask[i]
  db[0] &= 0xff >> (8 * emLen - emBits)
  return Buffer.concat([db, h, Buffer.from([0xbc])])
}

/** Signs `digest` (already hashed with `hash`). */
export function signDigest(privateKey: KeyObject, hash: string, pss: boolean, digest: Buffer): Buffer {
  if (digest.length !== HASH_BYTES[hash]) throw new RangeError('digest length')
  if (!pss) return privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([DIGEST_INFO[hash], digest]))
  const bits = modulusBits(privateKey)
  const em = pssEncode(hash, digest, bits - 1, randomBytes(HASH_BYTES[hash]))
  const k = Math.ceil(bits / 8)
  return privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, Buffer.concat([Buffer.alloc(k - em.length), em]))
}

/** Verifies a signature over `digest`; false on any mismatch. */
export function verifyDigest(publicKey: KeyObject, hash: string, pss: boolean, digest: Buffer, signature: Buffer): boolean {
  if (digest.length !== HASH_BYTES[hash]) return false
  const bits = modulusBits(publicKey)
  const k = Math.ceil(bits / 8)
  if (signature.length !== k) return false
  try {
    if (!pss) {
      const got = publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature)
      const want = Buffer.concat([DIGEST_INFO[hash], digest])
      return got.length === want.length && timingSafeEqual(got, want)
    }
    // EMSA-PSS-VERIFY (RFC 8017 §9.1.2) with sLen = hLen.
    const raw = publicDecrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, signature)
    const emBits = bits - 1
    const emLen = Math.ceil(emBits / 8)
    const hLen = HASH_BYTES[hash]
    if (raw.length - emLen < 0 || raw.subarray(0, raw.length - emLen).some((b) => b !== 0)) return false
    const em = raw.subarray(raw.length - emLen)
    if (emLen < 2 * hLen + 2 || em[emLen - 1] !== 0xbc) return false
    const masked = em.subarray(0, emLen - hLen - 1)
    const h = em.subarray(emLen - hLen - 1, emLen - 1)
    const topBits = 8 * emLen - emBits
    if ((masked[0] & ~(0xff >> topBits) & 0xff) !== 0) return false
    const db = Buffer.from(masked)
    const mask = mgf1(hash, Buffer.from(h), db.length)
    for (let i = 0; i < db.length; i++) db[i] ^= mask[i]
    db[0] &= 0xff >> topBits
    const psLen = emLen - 2 * hLen - 2
    if (db.subarray(0, psLen).some((b) => b !== 0) || db[psLen] !== 1) return false
    const salt = db.subarray(db.length - hLen)
    const h2 = createHash(hash).update(Buffer.alloc(8)).update(digest).update(salt).digest()
    return timingSafeEqual(h2, h)
  } catch {
    return false
  }
}
