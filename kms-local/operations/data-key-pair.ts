/**
 * GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext, to the seed's contract: KeyId as
 * key ID, key ARN, alias name or alias ARN (another account's key only by ARN); a symmetric
 * encryption KMS key only (an asymmetric one is InvalidKeyUsageException); GrantTokens accepted
 * (malformed: InvalidGrantTokenException); Disabled / KMSInvalidState (pending deletion) /
 * NotFound / DryRunOperation / UnsupportedOperation (SM2) where their conditions arise; PublicKey
 * is DER SubjectPublicKeyInfo, the private key DER PKCS#8 (RFC 5958), and every call makes a
 * fresh, unrelated pair.
 * @module
 */
import { kms } from '../errors.js'
import { generatePair } from '../keyspec.js'
import type { Value } from '../schema.js'
import { authorizeKey, checkGrantTokens, dryRun, keyArn, requireEnabled, requireSymmetric, resolveKey, type OpContext } from '../context.js'
import { conditionsOf, deliver, recipientOf } from './recipient-step.js'
import { encryptWith } from './symmetric.js'

type Req = Record<string, Value>

async function common(req: Req, ctx: OpContext, op: 'GenerateDataKeyPair' | 'GenerateDataKeyPairWithoutPlaintext'): Promise<Record<string, unknown>> {
  checkGrantTokens(req.GrantTokens)
  const key = resolveKey(ctx, req.KeyId as string, { aliases: true, crossAccount: true })
  const recipient = op === 'GenerateDataKeyPair' ? await recipientOf(req, ctx) : null
  authorizeKey(ctx, key, `kms:${op}`, conditionsOf(recipient))
  requireEnabled(key)
  requireSymmetric(key, op)
  const spec = req.KeyPairSpec as string
  // SM2 exists only in China Regions, and Node's OpenSSL build cannot make SM2 keys.
  if (spec === 'SM2') throw kms('UnsupportedOperationException', 'KeyPairSpec SM2 is supported only in China Regions.')
  dryRun(req.DryRun)
  const { publicKey, privateKey } = await generatePair(spec)
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' })
  const out: Record<string, unknown> = {
    PrivateKeyCiphertextBlob: encryptWith(ctx, key, pkcs8, req.EncryptionContext as Record<string, string> | undefined),
  }
  if (op === 'GenerateDataKeyPair') deliver(out, 'PrivateKeyPlaintext', pkcs8, recipient, ctx)
  else pkcs8.fill(0)
  out.PublicKey = publicKey.export({ type: 'spki', format: 'der' })
  out.KeyId = keyArn(key)
  out.KeyPairSpec = spec
  out.KeyMaterialId = key.materialId
  return out
}

export function generateDataKeyPair(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  return common(req, ctx, 'GenerateDataKeyPair')
}

export function generateDataKeyPairWithoutPlaintext(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  return common(req, ctx, 'GenerateDataKeyPairWithoutPlaintext')
}
