/**
 * `--seed <file>`: keys and aliases created at start (YAML or JSON), idempotently: a key whose
 * `keyId` exists is left alone, an alias that already names the same key is left alone. Strict:
 * unknown fields, duplicate YAML keys, invalid values and an alias that already names another key
 * are ERR_KMS_LOCAL_SEED errors, never silently skipped (a client using the alias would otherwise
 * reach a key other than the seeded one, e.g. one without the seed's attestation policy).
 *
 * ```yaml
 * keys:
 *   - keyId: 0f0e0d0c-0b0a-4908-8706-050403020100   # optional; random when absent
 *     account: "111122223333"                       # optional; the first credential's account
 *     description: demo key
 *     keySpec: SYMMETRIC_DEFAULT                    # optional, as CreateKey
 *     keyUsage: ENCRYPT_DECRYPT                     # optional, as CreateKey
 *     material: <base64 of 32 bytes>                # optional; symmetric keys only
 *     policy: { Version: "2012-10-17", Statement: [...] }   # optional; object or JSON text
 *     aliases: [alias/demo]
 * ```
 * @module
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { KmsLocalError } from './errors.js'
import { KEY_SPECS, generateMaterial } from './keyspec.js'
import { defaultPolicy, parsePolicy } from './policy.js'
import type { Store } from './store.js'

const KEY_FIELDS = new Set(['keyId', 'account', 'description', 'keySpec', 'keyUsage', 'material', 'policy', 'aliases'])

function fail(msg: string): never {
  throw new KmsLocalError('ERR_KMS_LOCAL_SEED', `seed: ${msg}`)
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Applies a seed file; returns how many keys were created. */
export async function applySeed(path: string, store: Store, region: string, defaultAccount: string, now: Date = new Date()): Promise<number> {
  let doc: unknown
  try {
    doc = parseYaml(readFileSync(path, 'utf8'), { uniqueKeys: true, strict: true, maxAliasCount: 0 })
  } catch (e) {
    fail(`cannot read ${path}: ${(e as Error).message}`)
  }
  if (!isObj(doc)) fail('the document must be a mapping with a "keys" list')
  for (const k of Object.keys(doc)) if (k !== 'keys') fail(`unknown top-level field '${k}'`)
  const keys = doc.keys
  if (!Array.isArray(keys)) fail('"keys" must be a list')
  let created = 0
  for (const [i, k] of keys.entries()) {
    if (!isObj(k)) fail(`keys[${i}] must be a mapping`)
    for (const f of Object.keys(k)) if (!KEY_FIELDS.has(f)) fail(`keys[${i}]: unknown field '${f}'`)
    const id = k.keyId ?? randomUUID()
    if (typeof id !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) fail(`keys[${i}].keyId must be a lowercase UUID`)
    const account = k.account ?? defaultAccount
    if (typeof account !== 'string' || !/^\d{12}$/.test(account)) fail(`keys[${i}].account must be 12 digits (quote it in YAML)`)
    const spec = k.keySpec ?? 'SYMMETRIC_DEFAULT'
    // Object.hasOwn: 'constructor' or 'toString' must not find Object.prototype's members.
    if (typeof spec !== 'string' || !Object.hasOwn(KEY_SPECS, spec)) fail(`keys[${i}].keySpec is not supported`)
    const usage = k.keyUsage ?? KEY_SPECS[spec].usages[0]
    if (typeof usage !== 'string' || !KEY_SPECS[spec].usages.includes(usage)) fail(`keys[${i}].keyUsage does not fit keySpec ${spec}`)
    const description = k.description ?? ''
    if (typeof description !== 'string') fail(`keys[${i}].description must be a string`)
    let policy = defaultPolicy(account)
    if (k.policy !== undefined) {
      policy = typeof k.policy === 'string' ? k.policy : JSON.stringify(k.policy)
      try {
        parsePolicy(policy)
      } catch (e) {
        fail(`keys[${i}].policy: ${(e as Error).message}`)
      }
    }
    let material: Buffer
    if (k.material !== undefined) {
      if (spec !== 'SYMMETRIC_DEFAULT' || typeof k.material !== 'string') fail(`keys[${i}].material: only for SYMMETRIC_DEFAULT, base64 text`)
      material = Buffer.from(k.material, 'base64')
      if (material.length !== 32 || material.toString('base64') !== k.material) fail(`keys[${i}].material must be canonical base64 of 32 bytes`)
    } else {
      material = await generateMaterial(spec)
    }
    const aliases = k.aliases ?? []
    if (!Array.isArray(aliases) || !aliases.every((a) => typeof a === 'string' && /^alias\/[a-zA-Z0-9/_-]+$/.test(a) && !a.startsWith('alias/aws/'))) {
      fail(`keys[${i}].aliases must be a list of alias/... names`)
    }
    try {
      store.transaction(() => {
        const existing = store.getKey(id)
        if (existing !== undefined && (existing.account !== account || existing.region !== region)) {
          fail(`keys[${i}].keyId exists in another account or Region`)
        }
        if (existing === undefined) {
          store.insertKey(
            {
              id, account, region, created: now.getTime() / 1000, state: 'Enabled', description, usage, spec, origin: 'AWS_KMS',
              policy, deletionDate: null, pendingWindowDays: null, materialId: randomBytes(32).toString('hex'), tags: [],
            },
            material,
          )
          created++
        }
        for (const name of aliases as string[]) {
          const taken = store.getAlias(account, region, name)
          if (taken !== undefined && taken.keyId !== id) fail(`keys[${i}].aliases: ${name} already names key ${taken.keyId}`)
          const t = now.getTime() / 1000
          if (taken === undefined) store.insertAlias({ account, region, name, keyId: id, created: t, updated: t })
        }
      })
    } finally {
      material.fill(0)
    }
  }
  return created
}
