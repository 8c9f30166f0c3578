/**
 * The Recipient step shared by Decrypt, GenerateDataKey, GenerateDataKeyPair, GenerateRandom and
 * DeriveSharedSecret: verify the document (before authorization, whose conditions need its PCRs)
 * and, after the operation, wrap the secret in a CMS envelope for the document's key and leave
 * the plaintext member out of the response.
 * @module
 */
import { buildRecipientEnvelope } from '../envelope.js'
import { verifyRecipient, type RecipientRequest, type VerifiedRecipient } from '../recipient.js'
import type { Value } from '../schema.js'
import type { OpContext } from '../context.js'

/** Verifies `req.Recipient` when present; null when absent. */
export async function recipientOf(req: Record<string, Value>, ctx: OpContext): Promise<VerifiedRecipient | null> {
  if (req.Recipient === undefined) return null
  const r = await verifyRecipient(req.Recipient as unknown as RecipientRequest, { ...ctx.recipient, logger: ctx.log }, ctx.now)
  ctx.log.info({ moduleId: r.moduleId, kind: r.kind, debug: r.debug }, 'Recipient attestation document verified')
  return r
}

/** The condition keys the Recipient adds to authorization. */
export function conditionsOf(r: VerifiedRecipient | null): Map<string, string> {
  return r === null ? new Map() : r.context
}

/**
 * Puts `secret` in the response: as `plaintextMember` without a Recipient, else as
 * `CiphertextForRecipient` (the plaintext member omitted, as KMS does).
 */
export function deliver(out: Record<string, unknown>, plaintextMember: string, secret: Buffer, r: VerifiedRecipient | null, ctx: OpContext): void {
  ctx.secrets.push(secret)
  if (r === null) out[plaintextMember] = secret
  else out.CiphertextForRecipient = buildRecipientEnvelope(secret, r.publicKey)
}
