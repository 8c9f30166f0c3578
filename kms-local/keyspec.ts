/**
 * The key specs kms-local supports, their usages and algorithms (one table, so operations never
 * switch on spec strings), and key/data-key-pair generation with node:crypto.
 * @module
 */
import { generateKeyPair, randomBytes, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'

const generateKeyPairAsync = promisify(generateKeyPair)

export interface SpecInfo {
  kind: 'symmetric' | 'rsa' | 'ec' | 'ed25519'
  usages: readonly string[]
  bits?: number
  curve?: string
  signing?: readonly string[]
  encryption?: readonly string[]
  keyAgreement?: readonly string[]
}

const RSA_SIGNING = [
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
] as const

const RSA_ENCRYPTION = ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] as const

/** KMS key specs kms-local can create. */
export const KEY_SPECS: Readonly<Record<string, SpecInfo>> = {
  SYMMETRIC_DEFAULT: { kind: 'symmetric', usages: ['ENCRYPT_DECRYPT'], encryption: ['SYMMETRIC_DEFAULT'] },
  RSA_2048: { kind: 'rsa', bits: 2048, usages: ['SIGN_VERIFY', 'ENCRYPT_DECRYPT'], signing: RSA_SIGNING, encryption: RSA_ENCRYPTION },
  RSA_3072: { kind: 'rsa', bits: 3072, usages: ['SIGN_VERIFY', 'ENCRYPT_DECRYPT'], signing: RSA_SIGNING, encryption: RSA_ENCRYPTION },
  RSA_4096: { kind: 'rsa', bits: 4096, usages: ['SIGN_VERIFY', 'ENCRYPT_DECRYPT'], signing: RSA_SIGNING, encryption: RSA_ENCRYPTION },
  ECC_NIST_P256: { kind: 'ec', curve: 'prime256v1', usages: ['SIGN_VERIFY', 'KEY_AGREEMENT'], signing: ['ECDSA_SHA_256'], keyAgreement: ['ECDH'] },
  ECC_NIST_P384: { kind: 'ec', curve: 'secp384r1', usages: ['SIGN_VERIFY', 'KEY_AGREEMENT'], signing: ['ECDSA_SHA_384'], keyAgreement: ['ECDH'] },
  ECC_NIST_P521: { kind: 'ec', curve: 'secp521r1', usages: ['SIGN_VERIFY', 'KEY_AGREEMENT'], signing: ['ECDSA_SHA_512'], keyAgreement: ['ECDH'] },
  ECC_SECG_P256K1: { kind: 'ec', curve: 'secp256k1', usages: ['SIGN_VERIFY'], signing: ['ECDSA_SHA_256'] },
  // Pure Ed25519 (RFC 8032) over the raw message; ED25519_PH_SHA_512 needs MessageType DIGEST, which kms-local does not do.
  ECC_NIST_EDWARDS25519: { kind: 'ed25519', usages: ['SIGN_VERIFY'], signing: ['ED25519_SHA_512'] },
}

/** Every KeySpec value in the KMS model (validation accepts these; unsupported ones are refused later). */
export const ALL_KEY_SPECS = [
  'RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1',
  'SYMMETRIC_DEFAULT', 'HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512', 'SM2', 'ML_DSA_44', 'ML_DSA_65', 'ML_DSA_87',
  'ECC_NIST_EDWARDS25519',
] as const

export const KEY_USAGES = ['SIGN_VERIFY', 'ENCRYPT_DECRYPT', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT'] as const

/** DataKeyPairSpec values in the model; SM2 exists only in China regions and Node cannot make it. */
export const DATA_KEY_PAIR_SPECS = [
  'RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1', 'SM2',
  'ECC_NIST_EDWARDS25519',
] as const

export const SIGNING_ALGORITHMS = [...RSA_SIGNING, 'ECDSA_SHA_256', 'ECDSA_SHA_384', 'ECDSA_SHA_512', 'SM2DSA', 'ML_DSA_SHAKE_256', 'ED25519_SHA_512', 'ED25519_PH_SHA_512'] as const
export const ENCRYPTION_ALGORITHMS = ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'SM2PKE'] as const

/** Generates a key pair for a DataKeyPairSpec or asymmetric KeySpec (not SM2). Async: RSA-4096 takes a while. */
export async function generatePair(spec: string): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  switch (spec) {
    case 'RSA_2048':
    case 'RSA_3072':
    case 'RSA_4096':
      return generateKeyPairAsync('rsa', { modulusLength: Number(spec.slice(4)), publicExponent: 65537 })
    case 'ECC_NIST_P256':
      return generateKeyPairAsync('ec', { namedCurve: 'prime256v1' })
    case 'ECC_NIST_P384':
      return generateKeyPairAsync('ec', { namedCurve: 'secp384r1' })
    case 'ECC_NIST_P521':
      return generateKeyPairAsync('ec', { namedCurve: 'secp521r1' })
    case 'ECC_SECG_P256K1':
      return generateKeyPairAsync('ec', { namedCurve: 'secp256k1' })
    case 'ECC_NIST_EDWARDS25519':
      return generateKeyPairAsync('ed25519')
    default:
      throw new TypeError(`no generator for ${spec}`)
  }
}

/** Fresh key material for a KMS key: 32 random bytes, or a PKCS#8 DER private key. */
export async function generateMaterial(spec: string): Promise<Buffer> {
  if (spec === 'SYMMETRIC_DEFAULT') return randomBytes(32)
  const { privateKey } = await generatePair(spec)
  return privateKey.export({ type: 'pkcs8', format: 'der' })
}
