/**
 * Aliases: CreateAlias, ListAliases, DeleteAlias. An alias belongs to an account and Region and
 * names one key of that account.
 * @module
 */
import { kms } from '../errors.js'
import type { Value } from '../schema.js'
import { aliasArn, authorizeKey, requireNotPendingDeletion, resolveKey, type OpContext } from '../context.js'
import { decodeMarker, encodeMarker } from './keys.js'

type Req = Record<string, Value>

function checkAliasName(name: string): void {
  if (!/^alias\/[a-zA-Z0-9/_-]+$/.test(name)) {
    throw kms('ValidationException', `1 validation error detected: Value '${name.slice(0, 256)}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$`)
  }
  if (name.startsWith('alias/aws/')) throw kms('InvalidAliasNameException', 'Alias names that begin with alias/aws/ are reserved for AWS managed keys.')
}

export async function createAlias(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  const name = req.AliasName as string
  checkAliasName(name)
  const key = resolveKey(ctx, req.TargetKeyId as string, { aliases: false, crossAccount: false })
  authorizeKey(ctx, key, 'kms:CreateAlias')
  requireNotPendingDeletion(key)
  const t = ctx.now.getTime() / 1000
  const ok = ctx.store.insertAlias({ account: ctx.caller.account, region: ctx.region, name, keyId: key.id, created: t, updated: t })
  if (!ok) throw kms('AlreadyExistsException', `An alias with the name ${aliasArn(ctx.region, ctx.caller.account, name)} already exists`)
  return {}
}

export async function deleteAlias(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  const name = req.AliasName as string
  checkAliasName(name)
  const alias = ctx.store.getAlias(ctx.caller.account, ctx.region, name)
  if (alias === undefined) throw kms('NotFoundException', `Alias ${aliasArn(ctx.region, ctx.caller.account, name)} is not found.`)
  const key = ctx.store.getKey(alias.keyId)
  if (key !== undefined) authorizeKey(ctx, key, 'kms:DeleteAlias')
  ctx.store.deleteAlias(ctx.caller.account, ctx.region, name)
  return {}
}

export async function listAliases(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  const limit = (req.Limit ?? 100) as number
  const after = decodeMarker(req.Marker)
  let keyId: string | null = null
  if (req.KeyId !== undefined) keyId = resolveKey(ctx, req.KeyId as string, { aliases: false, crossAccount: false }).id
  const rows = ctx.store.listAliases(ctx.caller.account, ctx.region, keyId, after, limit + 1)
  const page = rows.slice(0, limit)
  const out: Record<string, unknown> = {
    Aliases: page.map((a) => ({
      AliasName: a.name,
      AliasArn: aliasArn(a.region, a.account, a.name),
      TargetKeyId: a.keyId,
      CreationDate: a.created,
      LastUpdatedDate: a.updated,
    })),
    Truncated: rows.length > limit,
  }
  if (rows.length > limit) out.NextMarker = encodeMarker(page[page.length - 1].name)
  return out
}
