/**
 * The KMS service, independent of the transport: takes a request (method, target, headers, body),
 * authenticates it (SigV4), routes `X-Amz-Target: TrentService.<Op>`, validates the JSON body
 * strictly and runs the operation. Every failure becomes KMS's `{"__type","message"}` answer;
 * anything unexpected is a 500 KMSInternalException whose details only reach the log.
 * @module
 */
import { randomUUID } from 'node:crypto'
import { anchorSet } from '../attestation/index.js'
import { silentLogger, type Logger } from '../common/log.js'
import type { OpContext } from './context.js'
import { KmsError, KmsLocalError, kms } from './errors.js'
import { JsonSyntaxError, parseStrictJson } from './json.js'
import { OPERATIONS } from './operations/index.js'
import type { RecipientConfig } from './recipient.js'
import { validateRequest } from './schema.js'
import { verifySigV4, type Caller, type Credential } from './sigv4.js'
import type { Store } from './store.js'

export const CONTENT_TYPE = 'application/x-amz-json-1.1'
const TARGET_PREFIX = 'TrentService.'

/** Development access keys (documented, printed at start). Never use them for anything real. */
export const DEV_CREDENTIALS: readonly Credential[] = [
  {
    accessKeyId: 'AKIAKMSLOCALDEV00001',
    secretAccessKey: 'kms-local/development/secret/key/00001',
    account: '111122223333',
    principalArn: 'arn:aws:iam::111122223333:user/kms-local-dev',
  },
  {
    accessKeyId: 'AKIAKMSLOCALDEV00002',
    secretAccessKey: 'kms-local/development/secret/key/00002',
    account: '444455556666',
    principalArn: 'arn:aws:iam::444455556666:user/kms-local-dev-other-account',
  },
]

export interface KmsServiceOptions {
  store: Store
  /** Default `us-east-1`. */
  region?: string
  /** Accepted access keys. Default {@link DEV_CREDENTIALS}. */
  credentials?: readonly Credential[]
  recipient?: RecipientConfig
  logger?: Logger
  /** Clock (tests). */
  now?: () => Date
  /** SigV4 clock skew tolerance. Default 5 minutes (AWS). */
  maxSkewMs?: number
}

export interface ServiceRequest {
  method: string
  url: string
  rawHeaders: string[]
  body: Buffer
}

export interface ServiceResponse {
  status: number
  headers: Record<string, string>
  body: Buffer
}

/** A KMS endpoint's logic. */
export class KmsService {
  readonly store: Store
  readonly region: string
  readonly credentials: ReadonlyMap<string, Credential>
  readonly #recipient: RecipientConfig
  readonly #log: Logger
  readonly #now: () => Date
  readonly #maxSkewMs: number | undefined
  #lastPurge = -1

  constructor(opts: KmsServiceOptions) {
    this.store = opts.store
    this.region = opts.region ?? 'us-east-1'
    if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(this.region)) throw new TypeError(`invalid region '${this.region}'`)
    const creds = opts.credentials ?? DEV_CREDENTIALS
    this.credentials = new Map(creds.map((c) => [c.accessKeyId, c]))
    this.#recipient = opts.recipient ?? {}
    checkRecipientConfig(this.#recipient)
    this.#log = opts.logger ?? silentLogger
    this.#now = opts.now ?? (() => new Date())
    this.#maxSkewMs = opts.maxSkewMs
  }

  /** Answers one request; never throws. */
  async handle(req: ServiceRequest): Promise<ServiceResponse> {
    const requestId = randomUUID()
    const started = process.hrtime.bigint()
    let op = '-'
    const secrets: Buffer[] = []
    let res: ServiceResponse
    try {
      const now = this.#now()
      const caller = verifySigV4(req, this.credentials, { region: this.region, now, ...(this.#maxSkewMs !== undefined ? { maxSkewMs: this.#maxSkewMs } : {}) })
      op = this.#operationName(req)
      const out = await this.#run(op, req, caller, now, secrets)
      res = { status: 200, headers: {}, body: Buffer.from(JSON.stringify(toWire(out)), 'utf8') }
    } catch (e) {
      res = this.#error(e, requestId, op)
    } finally {
      for (const s of secrets) s.fill(0)
    }
    res.headers['content-type'] = CONTENT_TYPE
    res.headers['x-amzn-requestid'] = requestId
    this.#log.info(
      { requestId, op, status: res.status, ms: Number(process.hrtime.bigint() - started) / 1e6 },
      'request',
    )
    return res
  }

  #operationName(req: ServiceRequest): string {
    const h = header(req.rawHeaders, 'x-amz-target')
    if (req.method !== 'POST' || h === undefined || !h.startsWith(TARGET_PREFIX)) {
      throw kms('UnknownOperationException')
    }
    const op = h.slice(TARGET_PREFIX.length)
    if (!Object.hasOwn(OPERATIONS, op)) throw kms('UnknownOperationException')
    const ct = header(req.rawHeaders, 'content-type')
    if (ct === undefined || ct.split(';')[0].trim().toLowerCase() !== CONTENT_TYPE) {
      throw kms('SerializationException', `Content-Type must be ${CONTENT_TYPE}`)
    }
    return op
  }

  async #run(op: string, req: ServiceRequest, caller: Caller, now: Date, secrets: Buffer[]): Promise<Record<string, unknown>> {
    let body
    try {
      body = req.body.length === 0 ? Object.create(null) : parseStrictJson(req.body)
    } catch (e) {
      if (e instanceof JsonSyntaxError) throw kms('SerializationException', e.message)
      throw e
    }
    const operation = OPERATIONS[op]
    const input = validateRequest(body, operation.members)
    // Blobs may hold plaintext (Encrypt's Plaintext): zero them after the request.
    for (const v of Object.values(input)) if (Buffer.isBuffer(v)) secrets.push(v)
    // Keys whose deletion date has passed go away; checked at most once a second.
    const nowSeconds = Math.floor(now.getTime() / 1000)
    if (nowSeconds !== this.#lastPurge) {
      this.#lastPurge = nowSeconds
      this.store.purgeDeleted(nowSeconds)
    }
    const ctx: OpContext = { store: this.store, region: this.region, caller, now, recipient: this.#recipient, log: this.#log, secrets }
    return operation.handler(input, ctx)
  }

  #error(e: unknown, requestId: string, op: string): ServiceResponse {
    let err: KmsError
    if (e instanceof KmsError) {
      err = e
    } else {
      this.#log.error({ requestId, op, err: e instanceof Error ? { name: e.name, message: e.message, code: (e as { code?: unknown }).code } : String(e) }, 'internal error')
      err = kms('KMSInternalException', 'The request processing has failed because of an unknown error, exception or failure.')
    }
    return { status: err.status, headers: { 'x-amzn-errortype': err.type }, body: Buffer.from(JSON.stringify(err.body()), 'utf8') }
  }
}

/**
 * A trust root or age limit the verifier cannot use is a configuration error at start; found
 * only by the first Recipient request it made every such request a 500.
 * @throws {KmsLocalError} ERR_KMS_LOCAL_CONFIG
 */
function checkRecipientConfig(cfg: RecipientConfig): void {
  if (cfg.trustAnchors !== undefined) {
    try {
      anchorSet(cfg.trustAnchors)
    } catch (e) {
      throw new KmsLocalError('ERR_KMS_LOCAL_CONFIG', `unusable Recipient trust root: ${(e as Error).message}`, { cause: e })
    }
  }
  if (cfg.maxAgeMs !== undefined && !(Number.isFinite(cfg.maxAgeMs) && cfg.maxAgeMs >= 0)) {
    throw new KmsLocalError('ERR_KMS_LOCAL_CONFIG', 'the Recipient maxAgeMs must be a non-negative number')
  }
}

function header(raw: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i].toLowerCase() === name) return raw[i + 1]
  return undefined
}

/** Response values to awsJson1_1: blobs as base64, everything else as JSON. */
function toWire(v: unknown): unknown {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')
  if (Array.isArray(v)) return v.map(toWire)
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toWire(x)
    return out
  }
  return v
}
