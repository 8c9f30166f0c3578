/**
 * Credentials for the enclave, served in the AWS SDK container-credentials format
 * (`{AccessKeyId, SecretAccessKey, Token, Expiration}`), so the enclave's SDK uses its standard
 * HTTP provider (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, optional `AWS_CONTAINER_AUTHORIZATION_TOKEN`)
 * and no credential ever travels on a command line (kmstool's `--aws-secret-access-key` did).
 *
 * The parent's role credentials come from IMDSv2 (PUT a session token, then GET
 * `iam/security-credentials/<role>`), cached and refreshed before they expire. Secrets never
 * reach logs or error messages.
 * @module
 */
import { request } from 'node:http'
import { timingSafeEqual, createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { hasControlChars, type CredentialSourceConfig } from './config.js'
import { CredentialsFetchError, CredentialsInvalidError, HostProxyError } from './errors.js'

/** A set of AWS credentials. */
export interface AwsCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  /** Empty for long-term keys (the container format requires the field). */
  readonly sessionToken: string
  readonly expiration: Date
}

/** Where served credentials come from. */
export interface CredentialSource {
  /** Current credentials; refreshes as needed. */
  get(): Promise<AwsCredentials>
  /** For logs: the kind and (for IMDS) the role, never a secret. */
  readonly description: string
}

const MAX_IMDS_BODY = 64 * 1024
const KEY_ID = /^[A-Z0-9]{16,128}$/
const ROLE = /^[\w+=,.@-]{1,64}$/

/** Static credentials (development): served with an expiration one hour ahead, renewed each time. */
export class StaticCredentialSource implements CredentialSource {
  readonly description = 'static'
  readonly #creds: Omit<AwsCredentials, 'expiration'>
  constructor(accessKeyId: string, secretAccessKey: string, sessionToken: string | null) {
    this.#creds = { accessKeyId, secretAccessKey, sessionToken: sessionToken ?? '' }
  }
  get(): Promise<AwsCredentials> {
    return Promise.resolve({ ...this.#creds, expiration: new Date(Date.now() + 3600_000) })
  }
}

/**
 * Credentials from the environment of the proxy (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
 * optional `AWS_SESSION_TOKEN`), read once.
 * @throws {CredentialsInvalidError} when they are missing.
 */
export function envCredentialSource(env: NodeJS.ProcessEnv = process.env): CredentialSource {
  const id = env.AWS_ACCESS_KEY_ID
  const secret = env.AWS_SECRET_ACCESS_KEY
  if (!id || !secret) throw new CredentialsInvalidError('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set for the env credential source')
  const s = new StaticCredentialSource(id, secret, env.AWS_SESSION_TOKEN || null)
  return { description: 'env', get: () => s.get() }
}

interface HttpResult {
  status: number
  body: string
}

function imdsRequest(base: string, method: 'GET' | 'PUT', path: string, headers: Record<string, string>, timeoutMs: number): Promise<HttpResult> {
  let deadline: NodeJS.Timeout | undefined
  return new Promise<HttpResult>((resolve, reject) => {
    const url = new URL(path, base)
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > MAX_IMDS_BODY) {
          req.destroy()
          reject(new CredentialsFetchError(`IMDS ${method} ${path}: response larger than ${MAX_IMDS_BODY} bytes`))
          return
        }
        chunks.push(c)
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', (e) => reject(new CredentialsFetchError(`IMDS ${method} ${path}: ${e.message}`, { cause: e })))
    })
    // A deadline for the whole exchange, not an inactivity timeout: an IMDS answer trickling in a
    // byte at a time would otherwise hold the one refresh in flight, and every request behind it.
    deadline = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs)
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(new CredentialsFetchError(`IMDS ${method} ${path}: ${e.code ?? e.message}`, { cause: e })))
    req.end()
  }).finally(() => clearTimeout(deadline))
}

/** Checks one string field of the IMDS credential document. */
function field(doc: Record<string, unknown>, name: string, max: number): string {
  const v = doc[name]
  if (typeof v !== 'string' || v.length === 0 || v.length > max || hasControlChars(v)) {
    throw new CredentialsInvalidError(`IMDS credentials: ${name} missing or malformed`)
  }
  return v
}

/**
 * Validates IMDS's `iam/security-credentials/<role>` document
 * (`{Code: "Success", AccessKeyId, SecretAccessKey, Token, Expiration, ...}`).
 * @throws {CredentialsInvalidError}
 */
export function parseImdsCredentials(text: string): AwsCredentials {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    throw new CredentialsInvalidError('IMDS credentials: not JSON')
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CredentialsInvalidError('IMDS credentials: not a JSON object')
  const d = doc as Record<string, unknown>
  if (d.Code !== 'Success') {
    throw new CredentialsInvalidError(`IMDS credentials: Code is ${typeof d.Code === 'string' ? JSON.stringify(d.Code.slice(0, 40)) : 'missing'}, not "Success"`)
  }
  const accessKeyId = field(d, 'AccessKeyId', 128)
  if (!KEY_ID.test(accessKeyId)) throw new CredentialsInvalidError('IMDS credentials: AccessKeyId malformed')
  const secretAccessKey = field(d, 'SecretAccessKey', 128)
  const sessionToken = field(d, 'Token', 8192)
  const expText = field(d, 'Expiration', 64)
  const expiration = new Date(expText)
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(expText) || Number.isNaN(expiration.getTime())) {
    throw new CredentialsInvalidError('IMDS credentials: Expiration is not an RFC 3339 UTC time')
  }
  return { accessKeyId, secretAccessKey, sessionToken, expiration }
}

/** Options of {@link ImdsCredentialSource}. */
export interface ImdsOptions {
  endpoint: string
  role: string | null
  refreshBeforeExpiryMs: number
  timeoutMs: number
  now?: () => number
}

/** The parent instance's role credentials via IMDSv2, cached until shortly before expiry. */
export class ImdsCredentialSource implements CredentialSource {
  readonly #o: ImdsOptions
  readonly #now: () => number
  #token: { value: string; expiresAt: number } | null = null
  #role: string | null
  #cached: AwsCredentials | null = null
  #inflight: Promise<AwsCredentials> | null = null

  constructor(opts: ImdsOptions) {
    this.#o = opts
    this.#now = opts.now ?? Date.now
    this.#role = opts.role
  }

  get description(): string {
    return `imds ${this.#o.endpoint} role ${this.#role ?? '(discovered)'}`
  }

  get(): Promise<AwsCredentials> {
    const c = this.#cached
    if (c !== null && this.#now() < c.expiration.getTime() - this.#o.refreshBeforeExpiryMs) return Promise.resolve(c)
    // One refresh at a time, whatever the request rate.
    this.#inflight ??= this.#refresh().finally(() => (this.#inflight = null))
    return this.#inflight.catch((e: unknown) => {
      // IMDS briefly unavailable: keep serving what we hold while it is still valid for a minute.
      const held = this.#cached
      if (held !== null && this.#now() < held.expiration.getTime() - 60_000) return held
      throw e
    })
  }

  async #sessionToken(): Promise<string> {
    const t = this.#token
    if (t !== null && this.#now() < t.expiresAt) return t.value
    const ttlS = 21600
    const r = await imdsRequest(this.#o.endpoint, 'PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': String(ttlS) }, this.#o.timeoutMs)
    if (r.status !== 200) throw new CredentialsFetchError(`IMDS token request answered HTTP ${r.status}`)
    const value = r.body.trim()
    if (!/^[\x21-\x7e]{1,1024}$/.test(value)) throw new CredentialsFetchError('IMDS token malformed')
    this.#token = { value, expiresAt: this.#now() + (ttlS - 60) * 1000 }
    return value
  }

  async #get(path: string): Promise<HttpResult> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.#sessionToken()
      const r = await imdsRequest(this.#o.endpoint, 'GET', path, { 'X-aws-ec2-metadata-token': token }, this.#o.timeoutMs)
      // 401: the session token expired or IMDS restarted; get a new one once.
      if (r.status === 401 && attempt === 0) {
        this.#token = null
        continue
      }
      if (r.status !== 200) throw new CredentialsFetchError(`IMDS GET ${path} answered HTTP ${r.status}`)
      return r
    }
  }

  async #refresh(): Promise<AwsCredentials> {
    const base = '/latest/meta-data/iam/security-credentials/'
    if (this.#role === null) {
      const list = await this.#get(base)
      const role = list.body.split('\n').map((l) => l.trim()).find((l) => l !== '')
      if (role === undefined || !ROLE.test(role)) throw new CredentialsFetchError('IMDS lists no valid instance-profile role')
      this.#role = role
    }
    const r = await this.#get(base + encodeURIComponent(this.#role))
    const creds = parseImdsCredentials(r.body)
    this.#cached = creds
    return creds
  }
}

/** Builds the configured source. */
export function createCredentialSource(c: CredentialSourceConfig): CredentialSource {
  switch (c.kind) {
    case 'imds':
      return new ImdsCredentialSource({ endpoint: c.endpoint, role: c.role, refreshBeforeExpiryMs: c.refreshBeforeExpiryMs, timeoutMs: c.timeoutMs })
    case 'static':
      return new StaticCredentialSource(c.accessKeyId, c.secretAccessKey, c.sessionToken)
    case 'env':
      return envCredentialSource()
  }
}

/** Constant-time comparison of a presented token with the expected one (hashed to equal length). */
function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false
  const a = createHash('sha256').update(presented).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

/** Options of {@link credentialsHandler}. */
export interface CredentialsHandlerOptions {
  source: CredentialSource
  path: string
  /** Required `Authorization` header value, or null for none; read per request (rotation on reload). */
  authorizationToken: () => string | null
  /** Called once per request with the status (metrics, logs); never with a secret. */
  onRequest?: (status: number, err: unknown) => void
}

/** The HTTP handler of the credential endpoint. */
export function credentialsHandler(o: CredentialsHandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const reply = (res: ServerResponse, status: number, body: object, err: unknown = null): void => {
    const text = JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) })
    res.end(text)
    o.onRequest?.(status, err)
  }
  return (req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (path !== o.path) return reply(res, 404, { Code: 'NotFound', Message: 'not found' })
    if (req.method !== 'GET') return reply(res, 405, { Code: 'MethodNotAllowed', Message: 'use GET' })
    const expected = o.authorizationToken()
    if (expected !== null && !tokenMatches(req.headers.authorization, expected)) {
      return reply(res, 401, { Code: 'AccessDenied', Message: 'missing or wrong Authorization token' })
    }
    o.source.get().then(
      (c) => reply(res, 200, { AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey, Token: c.sessionToken, Expiration: c.expiration.toISOString() }),
      (e: unknown) => {
        // The code tells the enclave what failed; the message may name IMDS paths but no secret.
        const code = e instanceof HostProxyError ? e.code : 'ERR_INTERNAL'
        reply(res, 503, { Code: code, Message: 'credentials unavailable' }, e)
      },
    )
  }
}
