/**
 * GenerateRandom (no KMS key, so no key policy; no DryRun in the model).
 * @module
 */
import { randomBytes } from 'node:crypto'
import { kms } from '../errors.js'
import type { Value } from '../schema.js'
import type { OpContext } from '../context.js'
import { deliver, recipientOf } from './recipient-step.js'

export async function generateRandom(req: Record<string, Value>, ctx: OpContext): Promise<Record<string, unknown>> {
  if (req.CustomKeyStoreId !== undefined) throw kms('CustomKeyStoreNotFoundException', 'kms-local has no custom key stores.')
  if (req.NumberOfBytes === undefined) throw kms('ValidationException', 'NumberOfBytes is required.')
  const recipient = await recipientOf(req, ctx)
  const out: Record<string, unknown> = {}
  deliver(out, 'Plaintext', randomBytes(req.NumberOfBytes as number), recipient, ctx)
  return out
}
