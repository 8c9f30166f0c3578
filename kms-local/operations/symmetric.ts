/**
 * Symmetric encryption: Encrypt, Decrypt, ReEncrypt, GenerateDataKey and
 * GenerateDataKeyWithoutPlaintext, with the encryption context bound into every ciphertext.
 * @module
 */
import { randomBytes } from 'node:crypto'
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
  resolveKey,
  type OpContext,
} from '../context.js'
import { conditionsOf, deliver, recipientOf } from './recipient-step.js'

type Req = Record<string, Value>
type Ctx = Record<string, string> | undefined

function requireSymmetricAlgorithm(key: KeyRecord, alg: unknown): void {
  if (alg !== undefined && alg !== 'SYMMETRIC_DEFAULT') {
    throw kms('InvalidKeyUsageException', `${keyArn(key)} key spec is ${key.spec} which does not support the encryption algorithm ${String(alg)}.`)
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
  const named = ciphertextKeyId(blob)
  if (keyId !== undefined) {
    const key = resolveKey(ctx, keyId as string, { aliases: true, crossAccount: true })
    if (key.id !== named) throw kms('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.')
    return key
  }
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
  requireSymmetric(key, 'Encrypt')
  requireSymmetricAlgorithm(key, req.EncryptionAlgorithm)
  dryRun(req.DryRun)
  const blob = encryptWith(ctx, key, req.Plaintext as Buffer, req.EncryptionContext as Ctx)
  ctx.secrets.push(req.Plaintext as Buffer)
  return { CiphertextBlob: blob, KeyId: keyArn(key), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }
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
  requireSymmetric(key, 'Decrypt')
  requireSymmetricAlgorithm(key, req.EncryptionAlgorithm)
  // IGNORE_CIPHERTEXT: authorization only (KMS's DryRunModifiers).
  if (ignoreCiphertext) dryRun(true)
  const plaintext = decryptWith(ctx, key, blob, req.EncryptionContext as Ctx)
  if (req.DryRun === true) {
    plaintext.fill(0)
    dryRun(true)
  }
  const out: Record<string, unknown> = { KeyId: keyArn(key), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }
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
  requireSymmetric(source, 'ReEncrypt')
  requireSymmetricAlgorithm(source, req.SourceEncryptionAlgorithm)
  requireEnabled(dest)
  requireSymmetric(dest, 'ReEncrypt')
  requireSymmetricAlgorithm(dest, req.DestinationEncryptionAlgorithm)
  const plaintext = decryptWith(ctx, source, blob, req.SourceEncryptionContext as Ctx)
  ctx.secrets.push(plaintext)
  dryRun(req.DryRun)
  const out = encryptWith(ctx, dest, plaintext, req.DestinationEncryptionContext as Ctx)
  return {
    CiphertextBlob: out,
    SourceKeyId: keyArn(source),
    KeyId: keyArn(dest),
    SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
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
