/**
 * Key policies: strict parsing (duplicate members, unknown members and condition operators
 * kms-local cannot evaluate are MalformedPolicyDocumentException, so a policy is never silently
 * weaker than it reads) and evaluation with IAM's rules: an explicit Deny wins, otherwise an Allow
 * is needed. Conditions: StringEquals, StringNotEquals, StringEqualsIgnoreCase,
 * StringNotEqualsIgnoreCase, StringLike, StringNotLike (each also `...IfExists`), Bool and Null;
 * keys are case-insensitive; several values are OR, several keys and operators AND. The keys are
 * the ones kms-local supplies: the attested recipient's `kms:RecipientAttestation:ImageSha384`,
 * `:PCR<n>` and `:NitroTPMPCR<n>`, and `kms:CallerAccount`, `aws:PrincipalArn`.
 * @module
 */
import { kms } from './errors.js'
import { isJsonObject, JsonSyntaxError, parseStrictJson, type JsonValue } from './json.js'

export interface Condition {
  operator: string
  ifExists: boolean
  /** Lowercased condition key. */
  key: string
  values: string[]
}

export interface Statement {
  sid?: string
  effect: 'Allow' | 'Deny'
  /** `'*'` or a list of AWS principals (ARNs, account IDs or `*`). */
  principals: '*' | string[]
  actions: string[] | null
  notActions: string[] | null
  resources: string[] | null
  notResources: string[] | null
  conditions: Condition[]
}

export interface Policy {
  statements: Statement[]
}

/** Who asks, for what, on which key, with which context. */
export interface AuthzRequest {
  principalArn: string
  account: string
  action: string
  resource: string
  /** Lowercased condition keys present in the request. */
  context: ReadonlyMap<string, string>
}

export type Decision = 'Allow' | 'ExplicitDeny' | 'ImplicitDeny'

const STRING_OPS = new Set([
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
])
const STATEMENT_MEMBERS = new Set(['Sid', 'Effect', 'Principal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition'])
export const MAX_POLICY_CHARS = 32_768
/**
 * The condition keys kms-local puts in a request's context (lowercased). Any other key would be
 * absent from every request, so a Deny on `kms:EncryptionContext:...` would never fire and an
 * Allow with a negated operator on it would always match: refused instead.
 */
const SUPPLIED_KEY = /^(?:kms:calleraccount|aws:principalarn|kms:recipientattestation:(?:imagesha384|pcr\d{1,2}|nitrotpmpcr\d{1,2}))$/

/** The policy KMS attaches when CreateKey gets none: the account may use the key through IAM. */
export function defaultPolicy(account: string): string {
  return JSON.stringify(
    {
      Version: '2012-10-17',
      Id: 'key-default-1',
      Statement: [
        {
          Sid: 'Enable IAM User Permissions',
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${account}:root` },
          Action: 'kms:*',
          Resource: '*',
        },
      ],
    },
    null,
    2,
  )
}

function malformed(msg: string): never {
  throw kms('MalformedPolicyDocumentException', msg)
}

function stringList(v: JsonValue, what: string): string[] {
  if (typeof v === 'string') return [v]
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) return v as string[]
  return malformed(`${what} must be a string or a non-empty list of strings`)
}

/**
 * Parses and validates a key policy document.
 * @throws {KmsError} MalformedPolicyDocumentException
 */
export function parsePolicy(text: string): Policy {
  if (text.length > MAX_POLICY_CHARS) malformed(`Policy is longer than ${MAX_POLICY_CHARS} characters`)
  let doc: JsonValue
  try {
    doc = parseStrictJson(text)
  } catch (e) {
    if (e instanceof JsonSyntaxError) malformed(`Policy is not valid JSON: ${e.message}`)
    throw e
  }
  if (!isJsonObject(doc)) malformed('Policy must be a JSON object')
  for (const k of Object.keys(doc)) if (!['Version', 'Id', 'Statement'].includes(k)) malformed(`Unknown policy element '${k.slice(0, 64)}'`)
  if (doc.Version !== undefined && doc.Version !== '2012-10-17' && doc.Version !== '2008-10-17') malformed('Unsupported policy Version')
  if (doc.Id !== undefined && typeof doc.Id !== 'string') malformed('Id must be a string')
  const raw = doc.Statement
  if (raw === undefined) malformed('Policy has no Statement')
  const list = Array.isArray(raw) ? raw : [raw]
  if (list.length === 0) malformed('Policy has no Statement')
  const statements = list.map((s, i) => parseStatement(s, i))
  // Version 2012-10-17 makes `${aws:...}` a policy variable, which kms-local does not substitute:
  // matched literally, a Deny on such a Resource or condition value would never fire.
  if (doc.Version === '2012-10-17') {
    for (const [i, st] of statements.entries()) {
      const matched = [...(st.resources ?? []), ...(st.notResources ?? []), ...st.conditions.flatMap((c) => c.values)]
      if (matched.some((v) => v.includes('${'))) malformed(`Statement ${i}: policy variables (\${...}) are not supported by kms-local`)
    }
  }
  return { statements }
}

function parseStatement(s: JsonValue, i: number): Statement {
  if (!isJsonObject(s)) malformed(`Statement ${i} must be an object`)
  for (const k of Object.keys(s)) {
    if (!STATEMENT_MEMBERS.has(k)) malformed(`Statement ${i}: unsupported element '${k.slice(0, 64)}'`)
  }
  if (s.Sid !== undefined && typeof s.Sid !== 'string') malformed(`Statement ${i}: Sid must be a string`)
  if (s.Effect !== 'Allow' && s.Effect !== 'Deny') malformed(`Statement ${i}: Effect must be Allow or Deny`)
  const principals = parsePrincipal(s.Principal, i)
  if ((s.Action === undefined) === (s.NotAction === undefined)) malformed(`Statement ${i}: exactly one of Action and NotAction`)
  if ((s.Resource === undefined) === (s.NotResource === undefined)) malformed(`Statement ${i}: exactly one of Resource and NotResource`)
  const actions = s.Action === undefined ? null : stringList(s.Action, `Statement ${i}: Action`)
  const notActions = s.NotAction === undefined ? null : stringList(s.NotAction, `Statement ${i}: NotAction`)
  for (const a of [...(actions ?? []), ...(notActions ?? [])]) {
    if (a !== '*' && !/^[a-zA-Z0-9-]+:[a-zA-Z0-9*?]+$/.test(a)) malformed(`Statement ${i}: invalid action '${a.slice(0, 64)}'`)
  }
  return {
    ...(typeof s.Sid === 'string' ? { sid: s.Sid } : {}),
    effect: s.Effect,
    principals,
    actions,
    notActions,
    resources: s.Resource === undefined ? null : stringList(s.Resource, `Statement ${i}: Resource`),
    notResources: s.NotResource === undefined ? null : stringList(s.NotResource, `Statement ${i}: NotResource`),
    conditions: s.Condition === undefined ? [] : parseConditions(s.Condition, i),
  }
}

function parsePrincipal(p: JsonValue | undefined, i: number): '*' | string[] {
  if (p === undefined) malformed(`Statement ${i}: Principal is required in a key policy`)
  if (p === '*') return '*'
  if (!isJsonObject(p)) malformed(`Statement ${i}: Principal must be "*" or an object`)
  const out: string[] = []
  for (const [k, v] of Object.entries(p)) {
    if (k === 'AWS') out.push(...stringList(v, `Statement ${i}: Principal.AWS`))
    else if (k === 'Service') stringList(v, `Statement ${i}: Principal.Service`) // valid, never matches a kms-local caller
    else malformed(`Statement ${i}: unsupported principal type '${k.slice(0, 64)}'`)
  }
  for (const a of out) {
    // IAM has no wildcards inside a principal (only "*" itself), and principals are matched
    // exactly here: `user/*` in a Deny would silently deny nobody.
    if (a !== '*' && !/^\d{12}$/.test(a) && !/^arn:aws[a-z-]*:(iam|sts)::\d{12}:[^\s*?]+$/.test(a)) malformed(`Statement ${i}: invalid principal '${a.slice(0, 64)}'`)
  }
  return out
}

function parseConditions(c: JsonValue, i: number): Condition[] {
  if (!isJsonObject(c)) malformed(`Statement ${i}: Condition must be an object`)
  const out: Condition[] = []
  for (const [rawOp, block] of Object.entries(c)) {
    // ForAnyValue/ForAllValues: the attestation keys are single-valued; refuse rather than guess.
    const ifExists = rawOp.endsWith('IfExists')
    const operator = ifExists ? rawOp.slice(0, -'IfExists'.length) : rawOp
    if (!STRING_OPS.has(operator) && operator !== 'Null' && operator !== 'Bool') {
      malformed(`Statement ${i}: condition operator '${rawOp.slice(0, 64)}' is not supported by kms-local`)
    }
    if (ifExists && operator === 'Null') malformed(`Statement ${i}: NullIfExists is not a condition operator`)
    if (!isJsonObject(block)) malformed(`Statement ${i}: ${rawOp} must map condition keys to values`)
    const seen = new Set<string>()
    for (const [key, v] of Object.entries(block)) {
      const lower = key.toLowerCase()
      if (!SUPPLIED_KEY.test(lower)) malformed(`Statement ${i}: condition key '${key.slice(0, 64)}' is not supported by kms-local`)
      if (seen.has(lower)) malformed(`Statement ${i}: condition key '${key.slice(0, 64)}' repeated`)
      seen.add(lower)
      let values: string[]
      if (typeof v === 'boolean') values = [String(v)]
      else if (Array.isArray(v) && v.every((x) => typeof x === 'boolean')) values = v.map(String)
      else values = stringList(v, `Statement ${i}: ${rawOp}.${key.slice(0, 64)}`)
      if ((operator === 'Null' || operator === 'Bool') && !values.every((x) => x === 'true' || x === 'false')) {
        malformed(`Statement ${i}: ${operator} takes "true" or "false"`)
      }
      out.push({ operator, ifExists, key: lower, values })
    }
  }
  return out
}

/**
 * IAM wildcard match (`*` any run, `?` one character) in O(pattern × value) time: the classic
 * two-pointer algorithm that only ever backtracks to the last `*`. A RegExp built from a policy
 * would let a policy like `*a*a*a...` backtrack exponentially.
 */
export function glob(pattern: string, value: string, ignoreCase: boolean): boolean {
  const p = ignoreCase ? pattern.toLowerCase() : pattern
  const v = ignoreCase ? value.toLowerCase() : value
  let pi = 0
  let vi = 0
  let star = -1
  let mark = 0
  while (vi < v.length) {
    if (pi < p.length && (p[pi] === '?' || p[pi] === v[vi])) {
      pi++
      vi++
    } else if (pi < p.length && p[pi] === '*') {
      star = pi++
      mark = vi
    } else if (star >= 0) {
      pi = star + 1
      vi = ++mark
    } else {
      return false
    }
  }
  while (pi < p.length && p[pi] === '*') pi++
  return pi === p.length
}

function principalMatches(s: Statement, req: AuthzRequest): boolean {
  if (s.principals === '*') return true
  return s.principals.some(
    (p) => p === '*' || p === req.account || p === `arn:aws:iam::${req.account}:root` || p === req.principalArn,
  )
}

function conditionHolds(c: Condition, ctx: ReadonlyMap<string, string>): boolean {
  const v = ctx.get(c.key)
  if (c.operator === 'Null') return c.values.some((x) => (x === 'true') === (v === undefined))
  if (v === undefined) return c.ifExists || c.operator.startsWith('StringNot')
  switch (c.operator) {
    case 'StringEquals':
      return c.values.includes(v)
    case 'StringNotEquals':
      return !c.values.includes(v)
    case 'StringEqualsIgnoreCase':
      return c.values.some((x) => x.toLowerCase() === v.toLowerCase())
    case 'StringNotEqualsIgnoreCase':
      return !c.values.some((x) => x.toLowerCase() === v.toLowerCase())
    case 'StringLike':
      return c.values.some((x) => glob(x, v, false))
    case 'StringNotLike':
      return !c.values.some((x) => glob(x, v, false))
    case 'Bool':
      return c.values.includes(v.toLowerCase())
    default:
      return false // unreachable: parsePolicy refuses other operators
  }
}

function statementApplies(s: Statement, req: AuthzRequest): boolean {
  if (!principalMatches(s, req)) return false
  if (s.actions !== null && !s.actions.some((a) => glob(a, req.action, true))) return false
  if (s.notActions !== null && s.notActions.some((a) => glob(a, req.action, true))) return false
  if (s.resources !== null && !s.resources.some((r) => glob(r, req.resource, false))) return false
  if (s.notResources !== null && s.notResources.some((r) => glob(r, req.resource, false))) return false
  return s.conditions.every((c) => conditionHolds(c, req.context))
}

/** IAM's evaluation order: any matching Deny, else any matching Allow, else implicit deny. */
export function evaluatePolicy(policy: Policy, req: AuthzRequest): Decision {
  let allowed = false
  for (const s of policy.statements) {
    if (!statementApplies(s, req)) continue
    if (s.effect === 'Deny') return 'ExplicitDeny'
    allowed = true
  }
  return allowed ? 'Allow' : 'ImplicitDeny'
}

/**
 * Throws KMS's AccessDeniedException unless `policy` allows `req`.
 * @throws {KmsError} AccessDeniedException (wire member `Message`, as KMS)
 */
export function authorize(policy: Policy, req: AuthzRequest): void {
  const d = evaluatePolicy(policy, req)
  if (d === 'Allow') return
  const why =
    d === 'ExplicitDeny'
      ? 'with an explicit deny in a resource-based policy'
      : `because no resource-based policy allows the ${req.action} action`
  throw kms('AccessDeniedException', `User: ${req.principalArn} is not authorized to perform: ${req.action} on resource: ${req.resource} ${why}`)
}

/** Condition keys for a verified attestation document (values lowercase hex, as KMS compares them). */
export function attestationContext(kind: 'enclave' | 'nitrotpm', pcrs: ReadonlyMap<number, Uint8Array>): Map<string, string> {
  const ctx = new Map<string, string>()
  for (const [i, v] of pcrs) {
    const hex = Buffer.from(v).toString('hex')
    if (kind === 'enclave') {
      ctx.set(`kms:recipientattestation:pcr${i}`, hex)
      if (i === 0) ctx.set('kms:recipientattestation:imagesha384', hex)
    } else {
      ctx.set(`kms:recipientattestation:nitrotpmpcr${i}`, hex)
    }
  }
  return ctx
}

