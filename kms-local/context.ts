/**
 * What every operation shares: the request context, key ID / ARN / alias resolution as KMS does
 * it, key-state and key-usage checks with KMS's messages, authorization against the key policy,
 * grant-token and DryRun handling, and KeyMetadata.
 * @module
 */
import type { Logger } from '../common/log.js'
import { dryRunSucceeded, kms } from './errors.js'
import { KEY_SPECS } from './keyspec.js'
import { authorize, parsePolicy, type Policy } from './policy.js'
import type { RecipientConfig } from './recipient.js'
import type { Caller } from './sigv4.js'
import type { KeyRecord, Store } from './store.js'

/** Per-request context handed to operations. */
export interface OpContext {
  store: Store
  region: string
  caller: Caller
  now: Date
  recipient: RecipientConfig
  log: Logger
  /** Buffers holding secrets; zeroed once the response has been serialized. */
  secrets: Buffer[]
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
const KEY_ID_RE = new RegExp(`^${UUID}$`)
const KEY_ARN_RE = new RegExp(`^arn:aws:kms:([a-z0-9-]+):(\\d{12}):key/(${UUID})$`)
const ALIAS_RE = /^alias\/[a-zA-Z0-9/_-]+$/
const ALIAS_ARN_RE = /^arn:aws:kms:([a-z0-9-]+):(\d{12}):(alias\/[a-zA-Z0-9/_-]+)$/

export function keyArn(k: Pick<KeyRecord, 'region' | 'account' | 'id'>): string {
  return `arn:aws:kms:${k.region}:${k.account}:key/${k.id}`
}

export function aliasArn(region: string, account: string, name: string): string {
  return `arn:aws:kms:${region}:${account}:${name}`
}

export interface ResolveOptions {
  /** Accept `alias/...` and alias ARNs (cryptographic operations and DescribeKey do; management operations do not). */
  aliases: boolean
  /** Accept another account's key (by key ARN or alias ARN only, as KMS). */
  crossAccount: boolean
}

/**
 * Resolves a KeyId member: key ID, key ARN, alias name or alias ARN. Key IDs and alias names
 * always mean the caller's own account; another account's key is reachable only by ARN.
 * @throws {KmsError} NotFoundException
 */
export function resolveKey(ctx: OpContext, keyId: string, opts: ResolveOptions): KeyRecord {
  const own = { account: ctx.caller.account, region: ctx.region }
  let id: string
  let account = own.account
  let region = own.region
  if (KEY_ID_RE.test(keyId)) {
    id = keyId
  } else if (KEY_ARN_RE.test(keyId)) {
    const m = KEY_ARN_RE.exec(keyId)!
    ;[region, account, id] = [m[1], m[2], m[3]]
  } else if (opts.aliases && (ALIAS_RE.test(keyId) || ALIAS_ARN_RE.test(keyId))) {
    let name = keyId
    const m = ALIAS_ARN_RE.exec(keyId)
    if (m !== null) [region, account, name] = [m[1], m[2], m[3]]
    if (account !== own.account && !opts.crossAccount) throw kms('NotFoundException', `Invalid keyId '${clip(keyId)}'`)
    const alias = region === ctx.region ? ctx.store.getAlias(account, region, name) : undefined
    if (alias === undefined) throw kms('NotFoundException', `Alias '${aliasArn(region, account, name)}' is not found.`)
    id = alias.keyId
  } else {
    throw kms('NotFoundException', `Invalid keyId '${clip(keyId)}'`)
  }
  if (account !== own.account && !opts.crossAccount) {
    throw kms('NotFoundException', `Key '${keyArn({ region, account, id })}' does not exist`)
  }
  const key = ctx.store.getKey(id)
  if (key === undefined || key.account !== account || key.region !== region || region !== ctx.region) {
    throw kms('NotFoundException', `Key '${keyArn({ region, account, id })}' does not exist`)
  }
  return key
}

/** Cryptographic operations need an Enabled key. */
export function requireEnabled(key: KeyRecord): void {
  if (key.state === 'Disabled') throw kms('DisabledException', `${keyArn(key)} is disabled.`)
  if (key.state === 'PendingDeletion') throw kms('KMSInvalidStateException', `${keyArn(key)} is pending deletion.`)
}

/** Management operations refuse keys pending deletion. */
export function requireNotPendingDeletion(key: KeyRecord): void {
  if (key.state === 'PendingDeletion') throw kms('KMSInvalidStateException', `${keyArn(key)} is pending deletion.`)
}

/** The key must be a symmetric encryption key (Encrypt, Decrypt, GenerateDataKey*, ReEncrypt). */
export function requireSymmetric(key: KeyRecord, op: string): void {
  if (key.usage !== 'ENCRYPT_DECRYPT') throw kms('InvalidKeyUsageException', `${keyArn(key)} key usage is ${key.usage} which is not valid for ${op}.`)
  if (key.spec !== 'SYMMETRIC_DEFAULT') throw kms('InvalidKeyUsageException', `${keyArn(key)} key spec is ${key.spec} which is not valid for ${op}.`)
}

export function requireUsage(key: KeyRecord, usage: string, op: string): void {
  if (key.usage !== usage) throw kms('InvalidKeyUsageException', `${keyArn(key)} key usage is ${key.usage} which is not valid for ${op}.`)
}

/** Parsed policies by text (policies are immutable values; a changed policy is a new text). */
const policyCache = new Map<string, Policy>()
const POLICY_CACHE_MAX = 256

function cachedPolicy(text: string): Policy {
  let p = policyCache.get(text)
  if (p === undefined) {
    p = parsePolicy(text)
    if (policyCache.size >= POLICY_CACHE_MAX) policyCache.delete(policyCache.keys().next().value!)
    policyCache.set(text, p)
  }
  return p
}

/**
 * Authorizes `action` on `key` with its key policy and the request's condition keys.
 * @throws {KmsError} AccessDeniedException
 */
export function authorizeKey(ctx: OpContext, key: KeyRecord, action: string, context: ReadonlyMap<string, string> = new Map()): void {
  const full = new Map(context)
  full.set('kms:calleraccount', ctx.caller.account)
  full.set('aws:principalarn', ctx.caller.principalArn)
  authorize(cachedPolicy(key.policy), {
    principalArn: ctx.caller.principalArn,
    account: ctx.caller.account,
    action,
    resource: keyArn(key),
    context: full,
  })
}

/**
 * Grant tokens: kms-local issues no grants, so a well-formed token grants nothing (KMS ignores
 * tokens that add nothing), and a malformed one is InvalidGrantTokenException. Well-formed means
 * base64/base64url characters only, as KMS's tokens are.
 */
export function checkGrantTokens(tokens: unknown): void {
  if (tokens === undefined) return
  for (const t of tokens as string[]) {
    if (!/^[A-Za-z0-9+/_=-]+$/.test(t)) throw kms('InvalidGrantTokenException', 'The grant token is not valid.')
  }
}

/** DryRun: everything checked; answer as KMS does instead of acting. */
export function dryRun(flag: unknown): void {
  if (flag === true) throw dryRunSucceeded()
}

/** KeyMetadata as DescribeKey/CreateKey return it. */
export function keyMetadata(k: KeyRecord): Record<string, unknown> {
  const spec = KEY_SPECS[k.spec]
  const out: Record<string, unknown> = {
    AWSAccountId: k.account,
    KeyId: k.id,
    Arn: keyArn(k),
    CreationDate: k.created,
    Enabled: k.state === 'Enabled',
    Description: k.description,
    KeyUsage: k.usage,
    KeyState: k.state,
    Origin: k.origin,
    KeyManager: 'CUSTOMER',
    CustomerMasterKeySpec: k.spec,
    KeySpec: k.spec,
    MultiRegion: false,
    CurrentKeyMaterialId: k.materialId,
  }
  if (k.state === 'PendingDeletion') {
    out.DeletionDate = k.deletionDate
    out.PendingDeletionWindowInDays = k.pendingWindowDays
  }
  if (k.usage === 'ENCRYPT_DECRYPT' && spec?.encryption) out.EncryptionAlgorithms = [...spec.encryption]
  if (k.usage === 'SIGN_VERIFY' && spec?.signing) out.SigningAlgorithms = [...spec.signing]
  if (k.usage === 'KEY_AGREEMENT' && spec?.keyAgreement) out.KeyAgreementAlgorithms = [...spec.keyAgreement]
  return out
}

export function clip(s: string): string {
  return s.length > 256 ? `${s.slice(0, 256)}...` : s
}
