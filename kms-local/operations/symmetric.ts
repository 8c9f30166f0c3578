/**
 * Encryption: Encrypt, Decrypt and ReEncrypt with symmetric keys (the encryption context bound
 * into every ciphertext) and RSA ENCRYPT_DECRYPT keys (RSAES-OAEP with SHA-1 or SHA-256, raw
 * ciphertext as KMS returns it: Decrypt then needs KeyId and EncryptionAlgorithm, as in KMS), and
 * GenerateDataKey(WithoutPlaintext), which needs a symmetric key.
 * @module
 */
import { constants, createPrivateKey, createPublicKey, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto'
import { ciphertextKeyId, openCiphertext, sealCiphertext } from '../ciphertext.js'
import { kms } from '../errors.js'
import type { Value } from '../schema.js'
import type { KeyRecord } from '../store.js'
import {
  authorizeKey,
  checkGrantTokens,
  dryRun,
  keyArn,
  requireEnabled,
  requireSymmetric,
  requireUsage,
  resolveKey,
  type OpContext,
} from '../context.js'
import { conditionsOf, deliver, recipientOf } from './recipient-step.js'

type Req = Record<string, Value>
type Ctx = Record<string, string> | undefined

const isRsa = (key: KeyRecord): boolean => key.spec.startsWith('RSA_')

/** The algorithm a call uses with `key`; throws when the key cannot use it. */
function algorithmFor(key: KeyRecord, alg: unknown): string {
  const a = (alg ?? 'SYMMETRIC_DEFAULT') as string
  const ok = isRsa(key) ? a === 'RSAES_OAEP_SHA_1' || a === 'RSAES_OAEP_SHA_256' : a === 'SYMMETRIC_DEFAULT'
  if (!ok) throw kms('InvalidKeyUsageException', `${keyArn(key)} key spec is ${key.spec} which does not support the encryption algorithm ${a}.`)
  return a
}

/** Largest RSAES-OAEP plaintext: modulus bytes - 2 * hash bytes - 2 (RFC 8017 §7.1.1). */
function oaepLimit(key: KeyRecord, alg: string): number {
  return Number(key.spec.slice(4)) / 8 - 2 * (alg === 'RSAES_OAEP_SHA_1' ? 20 : 32) - 2
}

/** Encrypt-capable key with an algorithm it supports. */
function requireEncryptionKey(key: KeyRecord, op: string): void {
  requireUsage(key, 'ENCRYPT_DECRYPT', op)
}

function checkContext(key: KeyRecord, ec: Ctx): void {
  if (isRsa(key) && ec !== undefined && Object.keys(ec).length > 0) {
    throw kms('ValidationException', `EncryptionContext is not supported with asymmetric KMS keys (${keyArn(key)}).`)
  }
}

/** Encrypts with any ENCRYPT_DECRYPT key. */
function encryptAny(ctx: OpContext, key: KeyRecord, alg: string, plaintext: Buffer, ec: Ctx): Buffer {
  if (!isRsa(key)) return encryptWith(ctx, key, plaintext, ec)
  if (plaintext.length > oaepLimit(key, alg)) {
    throw kms('ValidationException', `Plaintext is longer than ${oaepLimit(key, alg)} bytes, the limit of ${alg} with ${key.spec}.`)
  }
  return publicEncrypt({ key: createPublicKey(rsaKey(ctx, key)), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: alg === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256' }, plaintext)
}

/** Decrypts with any ENCRYPT_DECRYPT key; every failure is InvalidCiphertextException. */
function decryptAny(ctx: OpContext, key: KeyRecord, alg: string, blob: Buffer, ec: Ctx): Buffer {
  if (!isRsa(key)) return decryptWith(ctx, key, blob, ec)
  try {
    return privateDecrypt({ key: rsaKey(ctx, key), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: alg === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256' }, blob)
  } catch {
    throw kms('InvalidCiphertextException')
  }
}

function rsaKey(ctx: OpContext, key: KeyRecord): ReturnType<typeof createPrivateKey> {
  const der = ctx.store.material(key.id)
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
  } finally {
    der.fill(0)
  }
}

/** Encrypts with a key's material, zeroing the material afterwards. */
export function encryptWith(ctx: OpContext, key: KeyRecord, plaintext: Uint8Array, ec: Ctx): Buffer {
  const m = ctx.store.material(key.id)
  try {
    return sealCiphertext(key.id, m, plaintext, ec)
  } finally {
    m.fill(0)
  }
}

function decryptWith(ctx: OpContext, key: KeyRecord, blob: Buffer, ec: Ctx): Buffer {
  const m = ctx.store.material(key.id)
  try {
    return openCiphertext(blob, m, ec)
  } finally {
    m.fill(0)
  }
}

/**
 * The key a ciphertext names, checked against an optional KeyId member.
 * @throws {KmsError} InvalidCiphertextException, IncorrectKeyException, NotFoundException
 */
function sourceKey(ctx: OpContext, blob: Buffer, keyId: unknown): KeyRecord {
  if (keyId !== undefined) {
    const key = resolveKey(ctx, keyId as string, { aliases: true, crossAccount: true })
    // RSA ciphertexts are raw OAEP output and name no key: KeyId is how KMS finds the key.
    if (isRsa(key) && key.usage === 'ENCRYPT_DECRYPT') return key
    if (key.id !== ciphertextKeyId(blob)) throw kms('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.')
    return key
  }
  const named = ciphertextKeyId(blob)
  const key = ctx.store.getKey(named)
  // A blob naming no key here is indistinguishable from garbage.
  if (key === undefined || key.region !== ctx.region) throw kms('InvalidCiphertextException')
  return key
}

export async function encrypt(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  checkGrantTokens(req.GrantTokens)
  const key = resolveKey(ctx, req.KeyId as string, { aliases: true, crossAccount: true })
  authorizeKey(ctx, key, 'kms:Encrypt')
  requireEnabled(key)
  requireEncryptionKey(key, 'Encrypt')
  const alg = algorithmFor(key, req.EncryptionAlgorithm)
  checkContext(key, req.EncryptionContext as Ctx)
  dryRun(req.DryRun)
  const blob = encryptAny(ctx, key, alg, req.Plaintext as Buffer, req.EncryptionContext as Ctx)
  ctx.secrets.push(req.Plaintext as Buffer)
  return { CiphertextBlob: blob, KeyId: keyArn(key), EncryptionAlgorithm: alg }
}

export async function decrypt(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  checkGrantTokens(req.GrantTokens)
  const blob = req.CiphertextBlob as Buffer
  const ignoreCiphertext = req.DryRun === true && ((req.DryRunModifiers ?? []) as string[]).includes('IGNORE_CIPHERTEXT')
  let key: KeyRecord
  if (ignoreCiphertext && req.KeyId !== undefined) key = resolveKey(ctx, req.KeyId as string, { aliases: true, crossAccount: true })
  else key = sourceKey(ctx, blob, req.KeyId)
  const recipient = await recipientOf(req, ctx)
  authorizeKey(ctx, key, 'kms:Decrypt', conditionsOf(recipient))
  requireEnabled(key)
  requireEncryptionKey(key, 'Decrypt')
  const alg = algorithmFor(key, req.EncryptionAlgorithm)
  checkContext(key, req.EncryptionContext as Ctx)
  // IGNORE_CIPHERTEXT: authorization only (KMS's DryRunModifiers).
  if (ignoreCiphertext) dryRun(true)
  const plaintext = decryptAny(ctx, key, alg, blob, req.EncryptionContext as Ctx)
  if (req.DryRun === true) {
    plaintext.fill(0)
    dryRun(true)
  }
  const out: Record<string, unknown> = { KeyId: keyArn(key), EncryptionAlgorithm: alg }
  deliver(out, 'Plaintext', plaintext, recipient, ctx)
  // The model: Decrypt leaves KeyMaterialId out when the request has a Recipient.
  if (recipient === null) out.KeyMaterialId = key.materialId
  return out
}

export async function reEncrypt(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  checkGrantTokens(req.GrantTokens)
  const blob = req.CiphertextBlob as Buffer
  const source = sourceKey(ctx, blob, req.SourceKeyId)
  const dest = resolveKey(ctx, req.DestinationKeyId as string, { aliases: true, crossAccount: true })
  authorizeKey(ctx, source, 'kms:ReEncryptFrom')
  authorizeKey(ctx, dest, 'kms:ReEncryptTo')
  requireEnabled(source)
  requireEncryptionKey(source, 'ReEncrypt')
  const srcAlg = algorithmFor(source, req.SourceEncryptionAlgorithm)
  checkContext(source, req.SourceEncryptionContext as Ctx)
  requireEnabled(dest)
  requireEncryptionKey(dest, 'ReEncrypt')
  const dstAlg = algorithmFor(dest, req.DestinationEncryptionAlgorithm)
  checkContext(dest, req.DestinationEncryptionContext as Ctx)
  const plaintext = decryptAny(ctx, source, srcAlg, blob, req.SourceEncryptionContext as Ctx)
  ctx.secrets.push(plaintext)
  dryRun(req.DryRun)
  const out = encryptAny(ctx, dest, dstAlg, plaintext, req.DestinationEncryptionContext as Ctx)
  return {
    CiphertextBlob: out,
    SourceKeyId: keyArn(source),
    KeyId: keyArn(dest),
    SourceEncryptionAlgorithm: srcAlg,
    DestinationEncryptionAlgorithm: dstAlg,
    SourceKeyMaterialId: source.materialId,
    DestinationKeyMaterialId: dest.materialId,
  }
}

function dataKeyLength(req: Req): number {
  const n = req.NumberOfBytes as number | undefined
  const spec = req.KeySpec as string | undefined
  if ((n === undefined) === (spec === undefined)) throw kms('ValidationException', 'Please specify either number of bytes or key spec.')
  return n ?? (spec === 'AES_128' ? 16 : 32)
}

async function generateDataKeyCommon(req: Req, ctx: OpContext, op: 'GenerateDataKey' | 'GenerateDataKeyWithoutPlaintext'): Promise<Record<string, unknown>> {
  checkGrantTokens(req.GrantTokens)
  const key = resolveKey(ctx, req.KeyId as string, { aliases: true, crossAccount: true })
  const length = dataKeyLength(req)
  const recipient = op === 'GenerateDataKey' ? await recipientOf(req, ctx) : null
  authorizeKey(ctx, key, `kms:${op}`, conditionsOf(recipient))
  requireEnabled(key)
  requireSymmetric(key, op)
  dryRun(req.DryRun)
  const dataKey = randomBytes(length)
  const out: Record<string, unknown> = { CiphertextBlob: encryptWith(ctx, key, dataKey, req.EncryptionContext as Ctx) }
  if (op === 'GenerateDataKey') deliver(out, 'Plaintext', dataKey, recipient, ctx)
  else dataKey.fill(0)
  out.KeyId = keyArn(key)
  out.KeyMaterialId = key.materialId
  return out
}

export function generateDataKey(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  return generateDataKeyCommon(req, ctx, 'GenerateDataKey')
}

export function generateDataKeyWithoutPlaintext(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  return generateDataKeyCommon(req, ctx, 'GenerateDataKeyWithoutPlaintext')
}
