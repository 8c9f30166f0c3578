/**
 * Operations on asymmetric KMS keys: Sign, Verify, GetPublicKey, DeriveSharedSecret.
 * @module
 */
import { constants, createPrivateKey, createPublicKey, diffieHellman, sign, verify, type KeyObject } from 'node:crypto'
import { tlv } from '../envelope.js'
import { kms } from '../errors.js'
import { KEY_SPECS } from '../keyspec.js'
import { HASH_BYTES, signDigest, verifyDigest } from '../rsa-digest.js'
import type { Value } from '../schema.js'
import type { KeyRecord } from '../store.js'
import { authorizeKey, checkGrantTokens, dryRun, keyArn, requireEnabled, requireUsage, resolveKey, type OpContext } from '../context.js'
import { conditionsOf, deliver, recipientOf } from './recipient-step.js'

type Req = Record<string, Value>

function privateKeyOf(ctx: OpContext, key: KeyRecord): KeyObject {
  const der = ctx.store.material(key.id)
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
  } finally {
    der.fill(0)
  }
}

/** node:crypto parameters for a KMS signing algorithm. */
function signingParams(alg: string): Omit<SigningParams, 'digest'> {
  if (alg === 'ED25519_SHA_512') return { hash: null } // Ed25519 hashes internally
  const hash = `sha${alg.slice(-3)}`
  if (alg.startsWith('RSASSA_PSS_')) return { hash, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(-3)) / 8 }
  if (alg.startsWith('RSASSA_PKCS1_V1_5_')) return { hash, padding: constants.RSA_PKCS1_PADDING }
  return { hash }
}

interface SigningParams {
  hash: string | null
  padding?: number
  saltLength?: number
  /** MessageType DIGEST (RSA only). */
  digest: boolean
}

function checkSigning(key: KeyRecord, req: Req, op: string): SigningParams {
  requireUsage(key, 'SIGN_VERIFY', op)
  const alg = req.SigningAlgorithm as string
  if (!KEY_SPECS[key.spec]?.signing?.includes(alg)) {
    throw kms('InvalidKeyUsageException', `Signing algorithm ${alg} is not valid for ${keyArn(key)} (key spec ${key.spec}).`)
  }
  const type = (req.MessageType ?? 'RAW') as string
  const p = signingParams(alg)
  if (type === 'RAW') return { ...p, digest: false }
  // node:crypto cannot sign a precomputed digest with ECDSA; RSA encodings are done in rsa-digest.ts.
  if (type !== 'DIGEST' || !alg.startsWith('RSASSA_')) {
    throw kms('UnsupportedOperationException', `kms-local supports MessageType ${type} only with RSA signing algorithms.`)
  }
  const message = req.Message as Buffer
  if (message.length !== HASH_BYTES[p.hash!]) throw kms('ValidationException', `Digest is invalid length for algorithm ${alg}.`)
  return { ...p, digest: true }
}

/** Sign and Verify check the same things in the same order as KMS: key, permission, state, algorithm, DryRun. */
function signingRequest(req: Req, ctx: OpContext, op: 'Sign' | 'Verify'): { key: KeyRecord; p: SigningParams } {
  checkGrantTokens(req.GrantTokens)
  const key = resolveKey(ctx, req.KeyId as string, { aliases: true, crossAccount: true })
  authorizeKey(ctx, key, `kms:${op}`)
  requireEnabled(key)
  const p = checkSigning(key, req, op)
  dryRun(req.DryRun)
  return { key, p }
}

export async function signOp(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  const { key, p } = signingRequest(req, ctx, 'Sign')
  const priv = privateKeyOf(ctx, key)
  const signature = p.digest
    ? signDigest(priv, p.hash!, p.padding === constants.RSA_PKCS1_PSS_PADDING, req.Message as Buffer)
    : sign(p.hash, req.Message as Buffer, { key: priv, padding: p.padding, saltLength: p.saltLength, dsaEncoding: 'der' })
  return { KeyId: keyArn(key), Signature: signature, SigningAlgorithm: req.SigningAlgorithm }
}

export async function verifyOp(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  const { key, p } = signingRequest(req, ctx, 'Verify')
  const pub = createPublicKey(privateKeyOf(ctx, key))
  let ok = false
  try {
    ok = p.digest
      ? verifyDigest(pub, p.hash!, p.padding === constants.RSA_PKCS1_PSS_PADDING, req.Message as Buffer, req.Signature as Buffer)
      : verify(p.hash, req.Message as Buffer, { key: pub, padding: p.padding, saltLength: p.saltLength, dsaEncoding: 'der' }, req.Signature as Buffer)
  } catch {
    ok = false
  }
  if (!ok) throw kms('KMSInvalidSignatureException')
  return { KeyId: keyArn(key), SignatureValid: true, SigningAlgorithm: req.SigningAlgorithm }
}

export async function getPublicKey(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  checkGrantTokens(req.GrantTokens)
  const key = resolveKey(ctx, req.KeyId as string, { aliases: true, crossAccount: true })
  authorizeKey(ctx, key, 'kms:GetPublicKey')
  requireEnabled(key)
  const spec = KEY_SPECS[key.spec]
  if (spec.kind === 'symmetric') throw kms('UnsupportedOperationException', `${keyArn(key)} key spec is SYMMETRIC_DEFAULT; GetPublicKey needs an asymmetric KMS key.`)
  const out: Record<string, unknown> = {
    KeyId: keyArn(key),
    PublicKey: createPublicKey(privateKeyOf(ctx, key)).export({ type: 'spki', format: 'der' }),
    CustomerMasterKeySpec: key.spec,
    KeySpec: key.spec,
    KeyUsage: key.usage,
  }
  if (key.usage === 'ENCRYPT_DECRYPT') out.EncryptionAlgorithms = [...(spec.encryption ?? [])]
  if (key.usage === 'SIGN_VERIFY') out.SigningAlgorithms = [...(spec.signing ?? [])]
  if (key.usage === 'KEY_AGREEMENT') out.KeyAgreementAlgorithms = [...(spec.keyAgreement ?? [])]
  return out
}

/** DER AlgorithmIdentifier { id-ecPublicKey, namedCurve } and field size in bytes of the key-agreement curves. */
const EC_SPKI: Record<string, { alg: Buffer; field: number }> = {
  prime256v1: { alg: Buffer.from('301306072a8648ce3d020106082a8648ce3d030107', 'hex'), field: 32 },
  secp384r1: { alg: Buffer.from('301006072a8648ce3d020106052b81040022', 'hex'), field: 48 },
  secp521r1: { alg: Buffer.from('301006072a8648ce3d020106052b81040023', 'hex'), field: 66 },
}

/**
 * The peer's public key: exactly a DER SPKI on the KMS key's curve with an uncompressed or
 * compressed point (SEC 1 §2.3.3), checked on the bytes before node:crypto sees them. Node
 * imports an SPKI holding the point at infinity and then aborts the whole process when its
 * asymmetricKeyDetails are read, so a hostile key must never get that far.
 */
function peerPublicKey(der: Buffer, key: KeyRecord): KeyObject {
  const c = EC_SPKI[KEY_SPECS[key.spec].curve ?? '']
  const bad = (): never => {
    throw kms('ValidationException', `PublicKey must be a DER-encoded X.509 SubjectPublicKeyInfo of a point on the curve of ${keyArn(key)} (${key.spec}).`)
  }
  if (c === undefined) return bad()
  const point = [1 + 2 * c.field, 1 + c.field].map((n) => der.subarray(der.length - n)).find(
    (p) => der.length > p.length && (p[0] === 0x04 ? p.length === 1 + 2 * c.field : (p[0] === 0x02 || p[0] === 0x03) && p.length === 1 + c.field),
  )
  if (point === undefined || !der.equals(tlv(0x30, c.alg, tlv(0x03, Buffer.from([0]), point)))) return bad()
  try {
    return createPublicKey({ key: der, format: 'der', type: 'spki' }) // checks the point is on the curve
  } catch {
    return bad()
  }
}

export async function deriveSharedSecret(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  checkGrantTokens(req.GrantTokens)
  const key = resolveKey(ctx, req.KeyId as string, { aliases: true, crossAccount: true })
  const recipient = await recipientOf(req, ctx)
  authorizeKey(ctx, key, 'kms:DeriveSharedSecret', conditionsOf(recipient))
  requireEnabled(key)
  requireUsage(key, 'KEY_AGREEMENT', 'DeriveSharedSecret')
  const peer = peerPublicKey(req.PublicKey as Buffer, key)
  dryRun(req.DryRun)
  const secret = diffieHellman({ privateKey: privateKeyOf(ctx, key), publicKey: peer })
  const out: Record<string, unknown> = { KeyId: keyArn(key) }
  deliver(out, 'SharedSecret', secret, recipient, ctx)
  out.KeyAgreementAlgorithm = 'ECDH'
  out.KeyOrigin = key.origin
  return out
}
