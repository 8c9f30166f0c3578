/**
 * Key lifecycle: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey, ScheduleKeyDeletion,
 * CancelKeyDeletion, GetKeyPolicy, PutKeyPolicy.
 * @module
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { kms } from '../errors.js'
import { KEY_SPECS, generateMaterial } from '../keyspec.js'
import { defaultPolicy, evaluatePolicy, parsePolicy } from '../policy.js'
import type { Value } from '../schema.js'
import { authorizeKey, checkGrantTokens, keyArn, keyMetadata, requireNotPendingDeletion, resolveKey, type OpContext } from '../context.js'
import type { KeyRecord } from '../store.js'

type Req = Record<string, Value>
const DAY = 86_400

/** Opaque pagination marker: the last item's sort key, base64url. */
export function encodeMarker(last: string): string {
  return Buffer.from(last, 'utf8').toString('base64url')
}

export function decodeMarker(marker: unknown): string | null {
  if (marker === undefined) return null
  const s = marker as string
  const text = /^[A-Za-z0-9_-]+$/.test(s) ? Buffer.from(s, 'base64url').toString('utf8') : ''
  if (text === '' || encodeMarker(text) !== s) throw kms('InvalidMarkerException', 'The marker that specifies where pagination should next begin is not valid.')
  return text
}

/** The new policy must let the caller change it again, unless the check is bypassed (KMS's lockout safety check). */
function lockoutCheck(ctx: OpContext, policyText: string, bypass: unknown, resource: string): void {
  const policy = parsePolicy(policyText)
  if (bypass === true) return
  const d = evaluatePolicy(policy, {
    principalArn: ctx.caller.principalArn,
    account: ctx.caller.account,
    action: 'kms:PutKeyPolicy',
    resource,
    context: new Map([
      ['kms:calleraccount', ctx.caller.account],
      ['aws:principalarn', ctx.caller.principalArn],
    ]),
  })
  if (d !== 'Allow') {
    throw kms(
      'MalformedPolicyDocumentException',
      'The new key policy will not allow you to update the key policy in the future.',
    )
  }
}

export async function createKey(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  const specName = (req.KeySpec ?? req.CustomerMasterKeySpec ?? 'SYMMETRIC_DEFAULT') as string
  if (req.KeySpec !== undefined && req.CustomerMasterKeySpec !== undefined) {
    throw kms('ValidationException', 'You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.')
  }
  const origin = (req.Origin ?? 'AWS_KMS') as string
  if (origin !== 'AWS_KMS') throw kms('UnsupportedOperationException', `kms-local does not support Origin ${origin}.`)
  if (req.CustomKeyStoreId !== undefined) throw kms('CustomKeyStoreNotFoundException', 'kms-local has no custom key stores.')
  if (req.XksKeyId !== undefined) throw kms('UnsupportedOperationException', 'kms-local does not support external key stores.')
  if (req.MultiRegion === true) throw kms('UnsupportedOperationException', 'kms-local does not support multi-Region keys.')
  const spec = KEY_SPECS[specName]
  if (spec === undefined) throw kms('UnsupportedOperationException', `kms-local does not support KeySpec ${specName}.`)
  const usage = (req.KeyUsage ?? (specName === 'SYMMETRIC_DEFAULT' ? 'ENCRYPT_DECRYPT' : undefined)) as string | undefined
  if (usage === undefined) throw kms('ValidationException', `You must specify a KeyUsage value for an asymmetric KMS key (KeySpec ${specName}).`)
  if (!spec.usages.includes(usage)) {
    throw kms('ValidationException', `KeyUsage ${usage} is not compatible with KeySpec ${specName} in kms-local.`)
  }
  const tags = (req.Tags ?? []) as { TagKey: string; TagValue: string }[]
  const seen = new Set<string>()
  for (const t of tags) {
    if (t.TagKey.startsWith('aws:')) throw kms('TagException', 'Tag keys beginning with aws: are reserved.')
    if (seen.has(t.TagKey)) throw kms('TagException', `Duplicate tag key ${t.TagKey}.`)
    seen.add(t.TagKey)
  }
  const id = randomUUID()
  const rec: KeyRecord = {
    id,
    account: ctx.caller.account,
    region: ctx.region,
    created: ctx.now.getTime() / 1000,
    state: 'Enabled',
    description: (req.Description ?? '') as string,
    usage,
    spec: specName,
    origin,
    policy: '',
    deletionDate: null,
    pendingWindowDays: null,
    materialId: randomBytes(32).toString('hex'),
    tags: tags.map((t) => ({ TagKey: t.TagKey, TagValue: t.TagValue })),
  }
  if (req.Policy !== undefined) {
    lockoutCheck(ctx, req.Policy as string, req.BypassPolicyLockoutSafetyCheck, keyArn(rec))
    rec.policy = req.Policy as string
  } else {
    rec.policy = defaultPolicy(ctx.caller.account)
  }
  const material = await generateMaterial(specName)
  try {
    ctx.store.insertKey(rec, material)
  } finally {
    material.fill(0)
  }
  return { KeyMetadata: keyMetadata(rec) }
}

export async function describeKey(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  checkGrantTokens(req.GrantTokens)
  const key = resolveKey(ctx, req.KeyId as string, { aliases: true, crossAccount: true })
  authorizeKey(ctx, key, 'kms:DescribeKey')
  return { KeyMetadata: keyMetadata(key) }
}

export async function listKeys(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  const limit = (req.Limit ?? 100) as number
  const after = decodeMarker(req.Marker)
  const rows = ctx.store.listKeys(ctx.caller.account, ctx.region, after, limit + 1)
  const page = rows.slice(0, limit)
  const out: Record<string, unknown> = {
    Keys: page.map((k) => ({ KeyId: k.id, KeyArn: keyArn(k) })),
    Truncated: rows.length > limit,
  }
  if (rows.length > limit) out.NextMarker = encodeMarker(page[page.length - 1].id)
  return out
}

export async function enableKey(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  const key = resolveKey(ctx, req.KeyId as string, { aliases: false, crossAccount: false })
  authorizeKey(ctx, key, 'kms:EnableKey')
  requireNotPendingDeletion(key)
  ctx.store.updateKey(key.id, { state: 'Enabled' })
  return {}
}

export async function disableKey(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  const key = resolveKey(ctx, req.KeyId as string, { aliases: false, crossAccount: false })
  authorizeKey(ctx, key, 'kms:DisableKey')
  requireNotPendingDeletion(key)
  ctx.store.updateKey(key.id, { state: 'Disabled' })
  return {}
}

export async function scheduleKeyDeletion(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  const key = resolveKey(ctx, req.KeyId as string, { aliases: false, crossAccount: false })
  authorizeKey(ctx, key, 'kms:ScheduleKeyDeletion')
  const days = (req.PendingWindowInDays ?? 30) as number
  if (days < 7 || days > 30) {
    throw kms('ValidationException', `1 validation error detected: Value '${days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30`)
  }
  requireNotPendingDeletion(key)
  // KMS rounds the deletion date up to the next whole hour... close enough: now + days.
  const deletionDate = Math.floor(ctx.now.getTime() / 1000) + days * DAY
  ctx.store.updateKey(key.id, { state: 'PendingDeletion', deletionDate, pendingWindowDays: days })
  return { KeyId: keyArn(key), DeletionDate: deletionDate, KeyState: 'PendingDeletion', PendingWindowInDays: days }
}

export async function cancelKeyDeletion(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  const key = resolveKey(ctx, req.KeyId as string, { aliases: false, crossAccount: false })
  authorizeKey(ctx, key, 'kms:CancelKeyDeletion')
  if (key.state !== 'PendingDeletion') throw kms('KMSInvalidStateException', `${keyArn(key)} is not pending deletion.`)
  // As KMS: a key whose deletion is cancelled comes back Disabled.
  ctx.store.updateKey(key.id, { state: 'Disabled', deletionDate: null, pendingWindowDays: null })
  return { KeyId: keyArn(key) }
}

function policyName(req: Req): void {
  const name = (req.PolicyName ?? 'default') as string
  if (name !== 'default') throw kms('NotFoundException', `No such policy exists: ${name.slice(0, 128)}`)
}

export async function getKeyPolicy(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  const key = resolveKey(ctx, req.KeyId as string, { aliases: false, crossAccount: false })
  authorizeKey(ctx, key, 'kms:GetKeyPolicy')
  policyName(req)
  return { Policy: key.policy, PolicyName: 'default' }
}

export async function putKeyPolicy(req: Req, ctx: OpContext): Promise<Record<string, unknown>> {
  const key = resolveKey(ctx, req.KeyId as string, { aliases: false, crossAccount: false })
  authorizeKey(ctx, key, 'kms:PutKeyPolicy')
  policyName(req)
  requireNotPendingDeletion(key)
  lockoutCheck(ctx, req.Policy as string, req.BypassPolicyLockoutSafetyCheck, keyArn(key))
  ctx.store.updateKey(key.id, { policy: req.Policy as string })
  return {}
}
