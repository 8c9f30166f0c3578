/**
 * host-proxy's configuration: a strict YAML schema. Unknown keys, wrong types, out-of-range
 * numbers, duplicate keys, aliases, custom tags and multiple documents are all rejected with a
 * {@link ConfigError} naming the path of the bad field (`routes[1].target.port`), as enclaver's
 * `deny_unknown_fields` manifests do.
 *
 * The schema is a superset of vsock-proxy's allowlist file (`allowlist: [{address, port}]`), so
 * `/etc/nitro_enclaves/vsock-proxy.yaml` loads unchanged.
 *
 * ```yaml
 * allowlist:
 *   - {address: kms.us-east-1.amazonaws.com, port: 443}
 * routes:
 *   - name: kms
 *     listen: vsock://any:8000
 *     target: {address: kms.us-east-1.amazonaws.com, port: 443}
 * ```
 * @module
 */
import { readRegularFile } from '../common/files.js'
import { isIP } from 'node:net'
import { isMap, isScalar, isSeq, parseDocument, type Scalar } from 'yaml'
import { ConfigError, ConfigUnreadableError } from './errors.js'
import { canonicalHost, isNeverDialable } from './address-class.js'
import { findAllowlistEntry, formatTarget, type AllowlistEntry, type Target } from './allowlist.js'
import { parseAddress } from '../vsock-bridge/index.js'

/** Which address families a route may dial (vsock-proxy's `-4` / `-6`). */
export type IpFamily = 'any' | 'ipv4' | 'ipv6'

export type { AllowlistEntry, Target } from './allowlist.js'

/** One listener -> one target, with its limits. */
export interface RouteConfig {
  readonly name: string
  /** A vsock-bridge address: `vsock://any:8000` in production, `unix:`/`tcp://` in development. */
  readonly listen: string
  readonly target: Target
  readonly ipFamily: IpFamily
  readonly maxConnections: number
  readonly connectTimeoutMs: number
  readonly idleTimeoutMs: number
}

/** Where the credential endpoint gets the credentials it serves. */
export type CredentialSourceConfig =
  | {
      readonly kind: 'imds'
      /** Base URL of the instance metadata service, `http://169.254.169.254` by default. */
      readonly endpoint: string
      /** The instance profile's role; discovered from IMDS when null. */
      readonly role: string | null
      /** Refresh this long before the credentials expire. */
      readonly refreshBeforeExpiryMs: number
      readonly timeoutMs: number
    }
  | {
      readonly kind: 'static'
      readonly accessKeyId: string
      readonly secretAccessKey: string
      readonly sessionToken: string | null
    }
  | { readonly kind: 'env' }

/** The credential endpoint (AWS SDK container-credentials format). */
export interface CredentialsConfig {
  readonly listen: string
  /** HTTP path served, e.g. `/credentials`. */
  readonly path: string
  /** A file holding the token the client must send in `Authorization`; null for none. */
  readonly authorizationTokenFile: string | null
  readonly source: CredentialSourceConfig
}

/** The whole, validated configuration. */
export interface ProxyConfig {
  readonly allowlist: readonly AllowlistEntry[]
  readonly routes: readonly RouteConfig[]
  readonly credentials: CredentialsConfig | null
  readonly metrics: { readonly listen: string } | null
  readonly shutdownTimeoutMs: number
  readonly dns: { readonly minTtlMs: number; readonly maxTtlMs: number }
}

/** Defaults for every limit (undici's rule: every timeout and limit has an explicit default). */
export const DEFAULTS = {
  maxConnections: 1024,
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  shutdownTimeoutMs: 30_000,
  minTtlS: 1,
  maxTtlS: 300,
  imdsEndpoint: 'http://169.254.169.254',
  refreshBeforeExpiryS: 300,
  imdsTimeoutMs: 2_000,
  credentialsPath: '/credentials',
} as const

/** A config file larger than this is refused before parsing. */
export const MAX_CONFIG_BYTES = 1 << 20
const MAX_LIST = 4096

/** True when `s` holds a C0 control character or DEL (they garble logs and headers). */
export function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return true
  }
  return false
}

// ---------------------------------------------------------------------------------------------
// Strict field readers. Each takes the value and its path; each failure is a ConfigError.

type Obj = Map<string, unknown>

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'null'
  if (v instanceof Map) return 'a mapping'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`
  return `a ${typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v}`
}

function obj(v: unknown, path: string, allowed: readonly string[]): Obj {
  if (!(v instanceof Map)) throw new ConfigError(path, `expected a mapping, got ${describe(v)}`)
  for (const k of v.keys()) {
    if (typeof k !== 'string') throw new ConfigError(path, `keys must be strings, got ${describe(k)}`)
    if (!allowed.includes(k)) {
      throw new ConfigError(join(path, k), `unknown key (allowed here: ${allowed.join(', ')})`)
    }
  }
  return v as Obj
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`
}

function list(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw new ConfigError(path, `expected a list, got ${describe(v)}`)
  if (v.length > MAX_LIST) throw new ConfigError(path, `more than ${MAX_LIST} items`)
  return v
}

function str(v: unknown, path: string, max = 1024): string {
  if (typeof v !== 'string') throw new ConfigError(path, `expected a string, got ${describe(v)}`)
  if (v.length === 0) throw new ConfigError(path, 'must not be empty')
  if (v.length > max) throw new ConfigError(path, `longer than ${max} characters`)
  // Control characters have no business in any field and would garble logs.
  if (hasControlChars(v)) throw new ConfigError(path, 'contains control characters')
  return v
}

function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new ConfigError(path, `expected an integer, got ${describe(v)}`)
  }
  if (v < min || v > max) throw new ConfigError(path, `must be in ${min}..${max}, got ${v}`)
  return v
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') throw new ConfigError(path, `expected true or false, got ${describe(v)}`)
  return v
}

function opt<T>(o: Obj, key: string, path: string, read: (v: unknown, p: string) => T, dflt: T): T {
  return o.has(key) ? read(o.get(key), join(path, key)) : dflt
}

function req<T>(o: Obj, key: string, path: string, read: (v: unknown, p: string) => T): T {
  if (!o.has(key)) throw new ConfigError(join(path, key), 'is required')
  return read(o.get(key), join(path, key))
}

/**
 * A TCP port: an integer in 1..65535. vsock-proxy casts its YAML integer with `as u16`, so
 * 65979 silently became 443 there; here anything outside the range is refused.
 */
export function readPort(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new ConfigError(path, `expected an integer port, got ${describe(v)}`)
  }
  if (v < 1 || v > 65535) {
    const wrapped = ((v % 65536) + 65536) % 65536
    throw new ConfigError(path, `port must be in 1..65535, got ${v} (a 16-bit truncation would have made it ${wrapped})`)
  }
  return v
}

/** A target host: a DNS name or an IP literal, canonicalised for exact comparison. */
export function readHost(v: unknown, path: string): string {
  const s = str(v, path, 253)
  const host = canonicalHost(s)
  if (typeof host !== 'string') throw new ConfigError(path, host.error)
  if (isNeverDialable(host)) {
    throw new ConfigError(path, `${host} is an unspecified, multicast or broadcast address and can never be a target`)
  }
  return host
}

function readListen(v: unknown, path: string): string {
  const s = str(v, path)
  try {
    // Port 0 (an ephemeral port, shown in the logs) is allowed for tests and development.
    parseAddress(s, { allowPortZero: true })
  } catch (e) {
    throw new ConfigError(path, `not a listen address (vsock://cid:port, unix:/path, tcp://host:port): ${(e as Error).message}`, { cause: e })
  }
  return s
}

function readFamily(v: unknown, path: string): IpFamily {
  if (v === 'any' || v === 'ipv4' || v === 'ipv6') return v
  throw new ConfigError(path, `expected any, ipv4 or ipv6, got ${describe(v)}`)
}

function readName(v: unknown, path: string): string {
  const s = str(v, path, 63)
  // Names become Prometheus label values and log fields: keep them plain.
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(s)) {
    throw new ConfigError(path, 'must start with a letter or digit and use only letters, digits, _ . -')
  }
  return s
}

// ---------------------------------------------------------------------------------------------

const TOP_KEYS = ['allowlist', 'ip_family', 'defaults', 'routes', 'credentials', 'metrics', 'shutdown_timeout_ms', 'dns']
const ENTRY_KEYS = ['address', 'port', 'allow_private']
const LIMIT_KEYS = ['max_connections', 'connect_timeout_ms', 'idle_timeout_ms']
const ROUTE_KEYS = ['name', 'listen', 'target', 'ip_family', ...LIMIT_KEYS]
const TARGET_KEYS = ['address', 'port']
const CRED_KEYS = ['listen', 'path', 'authorization_token_file', 'source', 'imds', 'static']
const IMDS_KEYS = ['endpoint', 'role', 'refresh_before_expiry_s', 'timeout_ms']
const STATIC_KEYS = ['access_key_id', 'secret_access_key', 'session_token']

interface Limits {
  maxConnections: number
  connectTimeoutMs: number
  idleTimeoutMs: number
}

function readLimits(o: Obj, path: string, base: Limits): Limits {
  return {
    maxConnections: opt(o, 'max_connections', path, (v, p) => int(v, p, 1, 1_000_000), base.maxConnections),
    connectTimeoutMs: opt(o, 'connect_timeout_ms', path, (v, p) => int(v, p, 1, 600_000), base.connectTimeoutMs),
    idleTimeoutMs: opt(o, 'idle_timeout_ms', path, (v, p) => int(v, p, 1, 86_400_000), base.idleTimeoutMs),
  }
}

function readEntry(v: unknown, path: string): AllowlistEntry {
  const o = obj(v, path, ENTRY_KEYS)
  return {
    address: req(o, 'address', path, readHost),
    port: req(o, 'port', path, readPort),
    allowPrivate: opt(o, 'allow_private', path, bool, false),
  }
}

function readTarget(v: unknown, path: string): Target {
  const o = obj(v, path, TARGET_KEYS)
  return { address: req(o, 'address', path, readHost), port: req(o, 'port', path, readPort) }
}

function readImdsEndpoint(v: unknown, path: string): string {
  const s = str(v, path)
  let u: URL
  try {
    u = new URL(s)
  } catch {
    throw new ConfigError(path, `not a URL: ${JSON.stringify(s)}`)
  }
  // IMDS speaks plain HTTP on a link-local address; anything more is a misconfiguration.
  if (u.protocol !== 'http:' || u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '' || u.pathname !== '/') {
    throw new ConfigError(path, 'must be a bare http://host[:port] URL (for example http://169.254.169.254)')
  }
  return `${u.protocol}//${u.host}`
}

function readRole(v: unknown, path: string): string {
  const s = str(v, path, 64)
  // IAM role names: [\w+=,.@-]{1,64}. The name becomes a URL path segment.
  if (!/^[\w+=,.@-]+$/.test(s)) throw new ConfigError(path, 'not a valid IAM role name')
  return s
}

function readHttpPath(v: unknown, path: string): string {
  const s = str(v, path, 256)
  if (!/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$/.test(s)) {
    throw new ConfigError(path, 'must be an absolute URL path such as /credentials (no query, no spaces)')
  }
  return s
}

function readCredentials(v: unknown, path: string): CredentialsConfig {
  const o = obj(v, path, CRED_KEYS)
  const kind = req(o, 'source', path, (x, p) => {
    if (x === 'imds' || x === 'static' || x === 'env') return x
    throw new ConfigError(p, `expected imds, static or env, got ${describe(x)}`)
  })
  // Only the section of the chosen source may be present, so a typo cannot silently select another.
  for (const other of ['imds', 'static'] as const) {
    if (other !== kind && o.has(other)) throw new ConfigError(join(path, other), `present but source is ${kind}`)
  }
  let source: CredentialSourceConfig
  if (kind === 'imds') {
    const i = o.has('imds') ? obj(o.get('imds'), join(path, 'imds'), IMDS_KEYS) : new Map<string, unknown>()
    const ip = join(path, 'imds')
    source = {
      kind,
      endpoint: opt(i, 'endpoint', ip, readImdsEndpoint, DEFAULTS.imdsEndpoint),
      role: opt<string | null>(i, 'role', ip, readRole, null),
      refreshBeforeExpiryMs: opt(i, 'refresh_before_expiry_s', ip, (x, p) => int(x, p, 0, 3600), DEFAULTS.refreshBeforeExpiryS) * 1000,
      timeoutMs: opt(i, 'timeout_ms', ip, (x, p) => int(x, p, 1, 60_000), DEFAULTS.imdsTimeoutMs),
    }
  } else if (kind === 'static') {
    const sp = join(path, 'static')
    const s = req(o, 'static', path, (x, p) => obj(x, p, STATIC_KEYS))
    source = {
      kind,
      accessKeyId: req(s, 'access_key_id', sp, (x, p) => str(x, p, 128)),
      secretAccessKey: req(s, 'secret_access_key', sp, (x, p) => str(x, p, 128)),
      sessionToken: opt<string | null>(s, 'session_token', sp, (x, p) => str(x, p, 8192), null),
    }
  } else {
    source = { kind }
  }
  return {
    listen: req(o, 'listen', path, readListen),
    path: opt(o, 'path', path, readHttpPath, DEFAULTS.credentialsPath),
    authorizationTokenFile: opt<string | null>(o, 'authorization_token_file', path, (x, p) => str(x, p, 4096), null),
    source,
  }
}

/**
 * Validates an already-parsed YAML value (Maps for mappings) into a {@link ProxyConfig}.
 * Every route's target must be in the allowlist.
 * @throws {ConfigError} naming the path of the first bad field.
 */
export function validateConfig(root: unknown): ProxyConfig {
  const o = obj(root, '', TOP_KEYS)
  const allowlist = opt(o, 'allowlist', '', (v, p) => list(v, p).map((e, i) => readEntry(e, `${p}[${i}]`)), [])
  const seen = new Set<string>()
  allowlist.forEach((e, i) => {
    const key = formatTarget(e)
    if (seen.has(key)) throw new ConfigError(`allowlist[${i}]`, `duplicate entry ${key}`)
    seen.add(key)
  })
  const ipFamily = opt(o, 'ip_family', '', readFamily, 'any')
  const base: Limits = {
    maxConnections: DEFAULTS.maxConnections,
    connectTimeoutMs: DEFAULTS.connectTimeoutMs,
    idleTimeoutMs: DEFAULTS.idleTimeoutMs,
  }
  const defaults = opt(o, 'defaults', '', (v, p) => readLimits(obj(v, p, LIMIT_KEYS), p, base), base)
  const routes = opt(o, 'routes', '', (v, p) =>
    list(v, p).map((r, i): RouteConfig => {
      const rp = `${p}[${i}]`
      const ro = obj(r, rp, ROUTE_KEYS)
      return {
        name: opt(ro, 'name', rp, readName, `route-${i}`),
        listen: req(ro, 'listen', rp, readListen),
        target: req(ro, 'target', rp, readTarget),
        ipFamily: opt(ro, 'ip_family', rp, readFamily, ipFamily),
        ...readLimits(ro, rp, defaults),
      }
    }), [])
  const credentials = opt<CredentialsConfig | null>(o, 'credentials', '', readCredentials, null)
  const metrics = opt<{ listen: string } | null>(o, 'metrics', '', (v, p) => {
    const m = obj(v, p, ['listen'])
    return { listen: req(m, 'listen', p, readListen) }
  }, null)
  const shutdownTimeoutMs = opt(o, 'shutdown_timeout_ms', '', (v, p) => int(v, p, 0, 3_600_000), DEFAULTS.shutdownTimeoutMs)
  const dns = opt(o, 'dns', '', (v, p) => {
    const d = obj(v, p, ['min_ttl_s', 'max_ttl_s'])
    const minTtlS = opt(d, 'min_ttl_s', p, (x, q) => int(x, q, 0, 86_400), DEFAULTS.minTtlS)
    const maxTtlS = opt(d, 'max_ttl_s', p, (x, q) => int(x, q, 0, 86_400), DEFAULTS.maxTtlS)
    if (maxTtlS < minTtlS) throw new ConfigError(join(p, 'max_ttl_s'), 'must be >= min_ttl_s')
    return { minTtlMs: minTtlS * 1000, maxTtlMs: maxTtlS * 1000 }
  }, { minTtlMs: DEFAULTS.minTtlS * 1000, maxTtlMs: DEFAULTS.maxTtlS * 1000 })

  const config: ProxyConfig = { allowlist, routes, credentials, metrics, shutdownTimeoutMs, dns }
  checkConfig(config)
  return config
}

/**
 * Cross-field checks: unique route names, unique listen addresses, and every route's target in
 * the allowlist. Run by {@link validateConfig}; exported for configs assembled in code (the
 * vsock-proxy command line).
 * @throws {ConfigError}
 */
export function checkConfig(config: ProxyConfig): void {
  const names = new Set<string>()
  const listens = new Map<string, string>()
  const claim = (listen: string, path: string): void => {
    const other = listens.get(listen)
    if (other !== undefined) throw new ConfigError(path, `listen address ${listen} is already used by ${other}`)
    listens.set(listen, path)
  }
  config.routes.forEach((r, i) => {
    const rp = `routes[${i}]`
    if (names.has(r.name)) throw new ConfigError(`${rp}.name`, `duplicate route name ${r.name}`)
    names.add(r.name)
    claim(r.listen, `${rp}.listen`)
    const fam = isIP(r.target.address)
    if ((fam === 4 && r.ipFamily === 'ipv6') || (fam === 6 && r.ipFamily === 'ipv4')) {
      throw new ConfigError(`${rp}.target.address`, `an IPv${fam} address, but the route's ip_family is ${r.ipFamily}`)
    }
    if (findAllowlistEntry(config.allowlist, r.target) === undefined) {
      const t = formatTarget(r.target)
      throw new ConfigError(`${rp}.target`,
        `route ${r.name} targets ${t}, which is not in the allowlist (add {address: ${r.target.address}, port: ${r.target.port}} to allowlist)`)
    }
  })
  if (config.credentials) claim(config.credentials.listen, 'credentials.listen')
  if (config.metrics) claim(config.metrics.listen, 'metrics.listen')
}

/**
 * The first key that repeats an earlier key of the same mapping, anywhere in the document.
 * yaml's own `uniqueKeys` compares each key with every earlier one, which is quadratic: a 1 MiB
 * file of distinct keys held the event loop (and so every relay, on SIGHUP) for minutes. Here it
 * is one Set per mapping, walked without recursion. Keys compare by scalar value, as yaml's do.
 */
function firstDuplicateKey(root: unknown): Scalar | null {
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const node = stack.pop()
    if (isMap(node)) {
      const seen = new Set<unknown>()
      for (const pair of node.items) {
        if (isScalar(pair.key)) {
          if (seen.has(pair.key.value)) return pair.key
          seen.add(pair.key.value)
        } else {
          stack.push(pair.key)
        }
        stack.push(pair.value)
      }
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push(item)
    }
  }
  return null
}

/**
 * Parses YAML text (strict: YAML 1.2 core schema, no aliases, no custom tags, no duplicate keys,
 * one document) and validates it.
 * @throws {ConfigError}
 */
export function parseConfig(text: string): ProxyConfig {
  if (text.length > MAX_CONFIG_BYTES) throw new ConfigError('', `config larger than ${MAX_CONFIG_BYTES} bytes`)
  const doc = parseDocument(text, { schema: 'core', uniqueKeys: false, prettyErrors: true, strict: true })
  const problem = doc.errors[0] ?? doc.warnings[0]
  if (problem) throw new ConfigError('', `YAML: ${problem.message.split('\n')[0]}`)
  const dup = firstDuplicateKey(doc.contents)
  if (dup !== null) {
    const before = text.slice(0, dup.range?.[0] ?? 0).split('\n')
    throw new ConfigError('', `YAML: Map keys must be unique (${JSON.stringify(String(dup.value).slice(0, 40))} again at line ${before.length}, column ${before[before.length - 1].length + 1})`)
  }
  let value: unknown
  try {
    value = doc.toJS({ mapAsMap: true, maxAliasCount: 0 })
  } catch (e) {
    // yaml throws a ReferenceError for aliases with maxAliasCount 0.
    throw new ConfigError('', `YAML: ${(e as Error).message} (anchors and aliases are not accepted)`, { cause: e })
  }
  if (value === null || value === undefined) throw new ConfigError('', 'the config is empty')
  return validateConfig(value)
}

/**
 * Reads and parses a config file.
 * @throws {ConfigUnreadableError} when the file cannot be read; {@link ConfigError} when invalid.
 */
export async function loadConfig(file: string): Promise<ProxyConfig> {
  // bounded and non-blocking, the checked descriptor is the one read (common/files)
  const bytes = await readRegularFile(file, MAX_CONFIG_BYTES, (why, cause) => new ConfigUnreadableError(`${file}: ${why}`, { cause }))
  const text = bytes.toString('utf8')
  try {
    return parseConfig(text)
  } catch (e) {
    if (e instanceof ConfigError) {
      throw new ConfigError(e.path, e.detail, { cause: e.cause, file })
    }
    throw e
  }
}
