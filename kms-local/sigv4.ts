/**
 * AWS Signature Version 4 verification (header form, `Authorization: AWS4-HMAC-SHA256 ...`) with
 * node:crypto HMAC-SHA256, against the configured access keys. Failures map to the exception
 * types AWS JSON services send: MissingAuthenticationToken (no Authorization), IncompleteSignature
 * (malformed Authorization or required parts unsigned), UnrecognizedClient (unknown access key or
 * session token), InvalidSignature (mismatch, wrong scope, clock skew). The signature comparison is
 * constant-time.
 * @module
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { kms } from './errors.js'

/** An access key kms-local accepts, and who it is. */
export interface Credential {
  accessKeyId: string
  secretAccessKey: string
  /** When set, requests must carry exactly this `x-amz-security-token`. */
  sessionToken?: string
  /** The 12-digit account the caller belongs to. */
  account: string
  /** The caller's principal ARN (shown in AccessDenied messages, matched by key policies). */
  principalArn: string
}

/** The authenticated caller. */
export interface Caller {
  accessKeyId: string
  account: string
  principalArn: string
}

export interface SignedRequest {
  method: string
  /** The request target as sent (path and query). */
  url: string
  /** Node's `rawHeaders`: name/value pairs in order, names in their original case. */
  rawHeaders: string[]
  body: Uint8Array
}

export interface VerifyOptions {
  region: string
  service?: string
  now?: Date
  /** Accepted difference between the request's X-Amz-Date and now (AWS: 5 minutes). */
  maxSkewMs?: number
}

const ALGORITHM = 'AWS4-HMAC-SHA256'
const DATE_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/

/**
 * Verifies the request's SigV4 signature and returns the caller.
 * @throws {KmsError} MissingAuthenticationTokenException, IncompleteSignatureException,
 *   UnrecognizedClientException or InvalidSignatureException
 */
export function verifySigV4(req: SignedRequest, credentials: ReadonlyMap<string, Credential>, opts: VerifyOptions): Caller {
  const service = opts.service ?? 'kms'
  const now = opts.now ?? new Date()
  const maxSkew = opts.maxSkewMs ?? 5 * 60_000
  const headers = collectHeaders(req.rawHeaders)
  const auth = headers.get('authorization')
  if (auth === undefined || auth.length === 0) throw kms('MissingAuthenticationTokenException', 'Missing Authentication Token')
  if (auth.length > 1) throw kms('IncompleteSignatureException', 'Multiple Authorization headers')
  // The signature covers a repeated header's values joined by commas, while the service acts on
  // one of them: the headers it acts on must appear once.
  for (const [h, name] of [['x-amz-target', 'X-Amz-Target'], ['content-type', 'Content-Type']]) {
    if ((headers.get(h)?.length ?? 0) > 1) throw kms('IncompleteSignatureException', `Multiple ${name} headers`)
  }
  const parsed = parseAuthorization(auth[0])

  const [akid, scopeDate, scopeRegion, scopeService, terminal, ...rest] = parsed.credential.split('/')
  if (rest.length !== 0 || terminal !== 'aws4_request' || !akid || !scopeDate || !scopeRegion || !scopeService) {
    throw kms('IncompleteSignatureException', `Credential should be scoped to a valid region, not '${clip(scopeRegion ?? '')}'. Authorization header requires 'Credential' parameter in the form <access key>/<date>/<region>/<service>/aws4_request.`)
  }
  const cred = credentials.get(akid)
  if (cred === undefined) throw kms('UnrecognizedClientException', 'The security token included in the request is invalid.')

  const signed = parsed.signedHeaders
  if (!signed.includes('host')) throw kms('IncompleteSignatureException', "'Host' must be a signed header.")
  const dateHeader = headers.get('x-amz-date')
  if (dateHeader === undefined || dateHeader.length !== 1) {
    throw kms('IncompleteSignatureException', "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
  }
  if (!signed.includes('x-amz-date')) throw kms('IncompleteSignatureException', "'X-Amz-Date' must be a signed header.")
  // Stricter than AWS: an unsigned target would let a man in the middle turn, say,
  // GenerateDataKeyWithoutPlaintext into GenerateDataKey with the same signed body.
  if (headers.has('x-amz-target') && !signed.includes('x-amz-target')) {
    throw kms('IncompleteSignatureException', "'X-Amz-Target' must be a signed header.")
  }
  for (const h of signed) {
    if (!headers.has(h)) throw kms('IncompleteSignatureException', `Signed header '${clip(h)}' is missing from the request.`)
  }
  const amzDate = dateHeader[0]
  const m = DATE_RE.exec(amzDate)
  if (m === null) throw kms('IncompleteSignatureException', `Date must be in ISO-8601 'basic format'. Got '${clip(amzDate)}'.`)
  const when = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])
  // Date.UTC rolls 20260229 over to March 1st (and month 13 into the next year): only a real instant round-trips.
  if (Number.isNaN(when) || basic(new Date(when)) !== amzDate) {
    throw kms('IncompleteSignatureException', `Date must be in ISO-8601 'basic format'. Got '${clip(amzDate)}'.`)
  }
  if (scopeDate !== amzDate.slice(0, 8)) {
    throw kms('InvalidSignatureException', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${clip(scopeDate)}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`)
  }
  if (scopeService !== service) throw kms('InvalidSignatureException', `Credential should be scoped to correct service: '${service}'.`)
  if (scopeRegion !== opts.region) {
    throw kms('InvalidSignatureException', `Credential should be scoped to a valid region, not '${clip(scopeRegion)}'.`)
  }
  if (Math.abs(now.getTime() - when) > maxSkew) {
    throw kms('InvalidSignatureException', `Signature expired: ${amzDate} is now earlier than ${basic(new Date(now.getTime() - maxSkew))} (${basic(now)} - 5 min.)`)
  }

  const token = headers.get('x-amz-security-token')
  if (cred.sessionToken !== undefined || token !== undefined) {
    if (token === undefined || token.length !== 1 || cred.sessionToken === undefined || !safeEqualStrings(token[0], cred.sessionToken)) {
      throw kms('UnrecognizedClientException', 'The security token included in the request is invalid.')
    }
    if (!signed.includes('x-amz-security-token')) throw kms('IncompleteSignatureException', "'X-Amz-Security-Token' must be a signed header.")
  }

  const bodyHash = createHash('sha256').update(req.body).digest('hex')
  const declared = headers.get('x-amz-content-sha256')
  if (declared !== undefined && (declared.length !== 1 || declared[0] !== bodyHash)) {
    throw kms('InvalidSignatureException', 'The provided x-amz-content-sha256 header does not match what was computed.')
  }

  const [path, query = ''] = splitUrl(req.url)
  const canonicalRequest = [
    req.method,
    canonicalPath(path),
    canonicalQuery(query),
    signed.map((h) => `${h}:${headers.get(h)!.map(normalizeValue).join(',')}\n`).join(''),
    signed.join(';'),
    bodyHash,
  ].join('\n')
  const scope = `${scopeDate}/${scopeRegion}/${scopeService}/aws4_request`
  const stringToSign = [ALGORITHM, amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n')
  let k = hmac(`AWS4${cred.secretAccessKey}`, scopeDate)
  k = hmac(k, scopeRegion)
  k = hmac(k, scopeService)
  k = hmac(k, 'aws4_request')
  const expected = hmac(k, stringToSign)
  const given = Buffer.from(parsed.signature, 'hex')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw kms(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    )
  }
  return { accessKeyId: cred.accessKeyId, account: cred.account, principalArn: cred.principalArn }
}

interface ParsedAuthorization {
  credential: string
  signedHeaders: string[]
  signature: string
}

function parseAuthorization(value: string): ParsedAuthorization {
  const sp = value.indexOf(' ')
  const algorithm = sp < 0 ? value : value.slice(0, sp)
  if (algorithm !== ALGORITHM) {
    throw kms('IncompleteSignatureException', `Unsupported Authorization Type '${clip(algorithm)}'`)
  }
  const parts = new Map<string, string>()
  for (const raw of value.slice(sp + 1).split(',')) {
    const p = raw.trim()
    const eq = p.indexOf('=')
    if (eq <= 0) throw kms('IncompleteSignatureException', `Authorization header requires each component to be of the form key=value. '${clip(p)}' is not.`)
    const name = p.slice(0, eq)
    if (parts.has(name)) throw kms('IncompleteSignatureException', `Authorization header has a duplicate '${clip(name)}' parameter.`)
    parts.set(name, p.slice(eq + 1))
  }
  const credential = parts.get('Credential')
  const signedHeaders = parts.get('SignedHeaders')
  const signature = parts.get('Signature')
  if (credential === undefined || signedHeaders === undefined || signature === undefined || parts.size !== 3) {
    throw kms(
      'IncompleteSignatureException',
      "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters (and nothing else).",
    )
  }
  if (!/^[0-9a-f]{64}$/.test(signature)) {
    throw kms(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    )
  }
  const list = signedHeaders.split(';')
  // SigV4 requires lowercase, sorted, unique names; anything else could not have been signed by a conforming client.
  for (let i = 0; i < list.length; i++) {
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(list[i]) || (i > 0 && list[i - 1] >= list[i])) {
      throw kms('IncompleteSignatureException', 'SignedHeaders must be lowercase, sorted and unique.')
    }
  }
  return { credential, signedHeaders: list, signature }
}

/** Lowercased header name -> values in arrival order. */
function collectHeaders(raw: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    const list = out.get(name)
    if (list) list.push(raw[i + 1])
    else out.set(name, [raw[i + 1]])
  }
  return out
}

/**
 * SigV4 canonical header value: runs of spaces and tabs become one space, then one space is
 * trimmed at each end, exactly as the AWS SDK's signer does (String.trim would also strip
 * other Unicode whitespace the signer keeps; collapsing spaces only left a tab the signer turned
 * into a space, so correctly signed requests failed).
 */
function normalizeValue(v: string): string {
  return v.replace(/[ \t]+/g, ' ').replace(/^ | $/g, '')
}

function splitUrl(url: string): [string, string | undefined] {
  const q = url.indexOf('?')
  return q < 0 ? [url, undefined] : [url.slice(0, q), url.slice(q + 1)]
}

/** RFC 3986 encoding as SigV4 wants it (unreserved characters kept). */
function uriEncode(s: string, keepSlash: boolean): string {
  let out = ''
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b)
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    throw kms('IncompleteSignatureException', 'Malformed percent-encoding in the request target.')
  }
}

/** Non-S3 services: normalized path, each segment URI-encoded twice (once by the client, once in the canonical form). */
function canonicalPath(path: string): string {
  const segments: string[] = []
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') segments.pop()
    else segments.push(seg)
  }
  const normalized = `/${segments.join('/')}${path.endsWith('/') && segments.length > 0 ? '/' : ''}`
  return uriEncode(uriEncode(safeDecode(normalized), true), true)
}

function canonicalQuery(query: string): string {
  if (query === '') return ''
  const pairs = query.split('&').map((p) => {
    const eq = p.indexOf('=')
    const k = eq < 0 ? p : p.slice(0, eq)
    const v = eq < 0 ? '' : p.slice(eq + 1)
    return [uriEncode(safeDecode(k), false), uriEncode(safeDecode(v), false)] as const
  })
  pairs.sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) : a[0] < b[0] ? -1 : 1))
  return pairs.map(([k, v]) => `${k}=${v}`).join('&')
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest()
}

function basic(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
}

function safeEqualStrings(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest()
  const y = createHash('sha256').update(b).digest()
  return timingSafeEqual(x, y)
}

/** Echo at most 64 characters of client input into messages. */
function clip(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}...` : s
}
