/**
 * verifyAttestation: the whole check of an attestation document, in this order — size, COSE
 * envelope and headers, payload CBOR and schema (all before any cryptography), then the chain to
 * a pinned anchor at the verification time, the COSE signature with the leaf key, the document
 * timestamp, and finally the caller's policy. Any input gives a result or an AttestationError.
 * @module
 */
import { createHash, createPublicKey, KeyObject } from 'node:crypto'
import { DerReader, TAG } from './der.js'
import { defaultVerificationCache, VerificationCache } from './cache.js'
import { describeCertificate, verifyChain, type AnchorSet, type ChainCertificate } from './chain.js'
import { parseCertificate, type ParsedCertificate } from './certificate.js'
import { decodeCoseSign1, decodeStrict, verifyCoseSignature } from './cose-sign1.js'
import { TimestampError } from './errors.js'
import { parsePayload, type AttestationKind, type AttestationPayload } from './payload.js'
import { pemToDer } from './pem.js'
import { checkPolicy, isDebugDocument, normalizeExpectedPcrs, toBytes, type BytesLike, type PolicyOptions } from './policy.js'
import { AWS_NITRO_ROOT_G1_PEM } from './root-g1.js'

/** Payload nesting: map -> pcrs map / cabundle array -> byte strings. Deeper is never legitimate. */
const PAYLOAD_OPTS = { maxDepth: 4, maxItems: 256 }

export interface VerifyOptions {
  /** Trust anchors (PEM text, possibly several blocks, or DER). Default: AWS Nitro Root-G1 only. */
  trustAnchors?: readonly (string | Uint8Array)[]
  /** Verification time. Default: now. Pass the document's own time to check an archived document. */
  at?: Date
  /** Reject documents whose timestamp is more than this many ms before `at`. Default: no limit. */
  maxAgeMs?: number
  /** Tolerance for every time comparison (certificate windows, timestamp), ms. Default 0. */
  clockSkewMs?: number
  /** PCR index -> exact expected value (hex or bytes); any subset. Applies to enclave and NitroTPM PCRs. */
  expectedPcrs?: Record<number, BytesLike>
  /** Expected nonce (exact bytes). */
  nonce?: BytesLike
  /** Expected user_data (exact bytes). */
  userData?: BytesLike
  /** Expected public_key: raw bytes/hex as in the document, or a KeyObject compared by SPKI DER. */
  publicKey?: BytesLike | KeyObject
  /** Accept debug-mode enclave documents (PCR0..2 zero). Default false. */
  allowDebug?: boolean
  /** Certificate/link cache; `false` disables caching. Default: a process-wide bounded cache. */
  cache?: VerificationCache | false
}

/** A verified attestation document. Byte fields are private copies. */
export interface AttestationResult {
  kind: AttestationKind
  moduleId: string
  timestamp: Date
  digest: 'SHA384'
  /** Enclave `pcrs` or NitroTPM `nitrotpm_pcrs`, by index. */
  pcrs: Map<number, Uint8Array>
  /**
   * public_key as a KeyObject when it is a DER SubjectPublicKeyInfo node can import, else null.
   * Built on first access (a getter), since importing an RSA key costs more than verifying.
   */
  publicKey: KeyObject | null
  /** public_key when it has the DER SubjectPublicKeyInfo structure, else null. */
  publicKeyDer: Uint8Array | null
  /** public_key exactly as in the document (any format), or null. */
  publicKeyBytes: Uint8Array | null
  userData: Uint8Array | null
  nonce: Uint8Array | null
  /** True for debug-mode enclave documents (only returned when allowDebug was set). */
  debug: boolean
  /** True when the document carried the COSE tag 18. */
  tagged: boolean
  /** The verified chain, root first, leaf last. */
  chain: ChainCertificate[]
}

/** Memo per anchors array, with a snapshot of its elements so that a mutated array is rebuilt. */
const anchorCache = new WeakMap<readonly (string | Uint8Array)[], { snapshot: (string | Uint8Array)[]; set: AnchorSet }>()

function sameAnchors(a: readonly (string | Uint8Array)[], snapshot: readonly (string | Uint8Array)[]): boolean {
  return (
    a.length === snapshot.length &&
    a.every((x, i) => {
      const y = snapshot[i]
      return typeof x === 'string' ? x === y : x instanceof Uint8Array && y instanceof Uint8Array && Buffer.compare(x, y) === 0
    })
  )
}
let defaultAnchors: AnchorSet | undefined

/**
 * Builds the anchor set from PEM/DER inputs, parsing each anchor once (memoised per array).
 * TypeError when an anchor is not a certificate this verifier supports (EC P-384, ES384, strict DER).
 */
export function anchorSet(anchors: readonly (string | Uint8Array)[]): AnchorSet {
  if (!Array.isArray(anchors) || anchors.length === 0) throw new TypeError('"trustAnchors" must be a non-empty array')
  const cached = anchorCache.get(anchors)
  if (cached !== undefined && sameAnchors(anchors, cached.snapshot)) return cached.set
  const out = new Map<string, { der: Uint8Array; parsed: ParsedCertificate }>()
  for (const a of anchors) {
    const ders = typeof a === 'string' ? pemToDer(a) : a instanceof Uint8Array ? [new Uint8Array(a)] : undefined
    if (ders === undefined) throw new TypeError('a trust anchor must be PEM text or DER bytes')
    for (const der of ders) {
      let parsed: ParsedCertificate
      try {
        parsed = parseCertificate(der, 0)
      } catch (e) {
        // a configuration mistake, found before any document is read
        throw new TypeError(`unusable trust anchor: ${(e as Error).message}`, { cause: e })
      }
      out.set(createHash('sha256').update(der).digest('hex'), { der, parsed })
    }
  }
  anchorCache.set(anchors, { snapshot: anchors.map((x) => (typeof x === 'string' ? x : new Uint8Array(x))), set: out })
  return out
}

function nonNegative(v: number | undefined, what: string): number | undefined {
  if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) throw new TypeError(`"${what}" must be a non-negative number`)
  return v
}

/**
 * Decodes a document without verifying anything cryptographic: envelope, headers and payload
 * schema only. For inspection and structural tests; never trust its contents.
 */
export function decodeAttestationDocument(doc: Uint8Array): AttestationPayload & { tagged: boolean } {
  const cose = decodeCoseSign1(doc)
  return { ...parsePayload(decodeStrict(cose.payload, PAYLOAD_OPTS, 'payload')), tagged: cose.tagged }
}

/** Synchronous core of {@link verifyAttestation}. */
export function verifyAttestationSync(doc: Uint8Array, opts: VerifyOptions = {}): AttestationResult {
  // Options first: misuse is a TypeError before the document is looked at.
  const at = opts.at ?? new Date()
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new TypeError('"at" must be a valid Date')
  const atMs = at.getTime()
  const maxAgeMs = nonNegative(opts.maxAgeMs, 'maxAgeMs')
  const skew = nonNegative(opts.clockSkewMs, 'clockSkewMs') ?? 0
  const anchors = opts.trustAnchors === undefined ? (defaultAnchors ??= anchorSet([AWS_NITRO_ROOT_G1_PEM])) : anchorSet(opts.trustAnchors)
  const cache = opts.cache === false ? null : (opts.cache ?? defaultVerificationCache)
  if (cache !== null && !(cache instanceof VerificationCache)) throw new TypeError('"cache" must be a VerificationCache or false')
  const policy: PolicyOptions = {
    expectedPcrs: normalizeExpectedPcrs(opts.expectedPcrs),
    allowDebug: opts.allowDebug === true,
    nonce: opts.nonce === undefined ? undefined : toBytes(opts.nonce, 'nonce'),
    userData: opts.userData === undefined ? undefined : toBytes(opts.userData, 'userData'),
    publicKey:
      opts.publicKey === undefined || opts.publicKey instanceof KeyObject ? opts.publicKey : toBytes(opts.publicKey, 'publicKey'),
  }

  const cose = decodeCoseSign1(doc)
  const payload = parsePayload(decodeStrict(cose.payload, PAYLOAD_OPTS, 'payload'))
  const chain = verifyChain(payload.cabundle, payload.certificate, { anchors, at: atMs, clockSkewMs: skew, cache })
  const leaf = chain[chain.length - 1]
  verifyCoseSignature(cose, leaf.publicKey)

  // The leaf signed this timestamp, so it must fall inside the leaf's window; and it cannot lie
  // in the verifier's future.
  const ts = payload.timestamp
  if (ts < leaf.notBefore - skew || ts > leaf.notAfter + skew) {
    throw new TimestampError('ERR_ATTESTATION_TIMESTAMP', 'document timestamp lies outside its signing certificate validity')
  }
  if (ts > atMs + skew) throw new TimestampError('ERR_ATTESTATION_TIMESTAMP', 'document timestamp is after the verification time')
  if (maxAgeMs !== undefined && atMs - ts > maxAgeMs + skew) {
    throw new TimestampError('ERR_ATTESTATION_STALE', `document is ${atMs - ts} ms old, more than maxAgeMs ${maxAgeMs}`)
  }

  // The payload's byte fields are views into `doc`. Copy with `new Uint8Array(view)`: when `doc` is
  // a Buffer, `.slice()` is Buffer#slice, another view, and the caller recycling its buffer would
  // rewrite the result.
  const signedKey = payload.publicKey === null ? null : new Uint8Array(payload.publicKey)
  const spki = signedKey !== null && isSpki(signedKey) ? signedKey : null
  checkPolicy(payload, spki, policy)

  const result = {
    kind: payload.kind,
    moduleId: payload.moduleId,
    timestamp: new Date(ts),
    digest: payload.digest,
    pcrs: new Map([...payload.pcrs].map(([i, v]) => [i, new Uint8Array(v)])),
    publicKey: null as KeyObject | null,
    publicKeyDer: spki === null ? null : new Uint8Array(spki),
    publicKeyBytes: signedKey === null ? null : new Uint8Array(signedKey),
    userData: payload.userData === null ? null : new Uint8Array(payload.userData),
    nonce: payload.nonce === null ? null : new Uint8Array(payload.nonce),
    debug: isDebugDocument(payload.kind, payload.pcrs),
    tagged: cose.tagged,
    chain: chain.map(describeCertificate),
  }
  // Importing an RSA key costs ~0.4 ms in OpenSSL 3, more than the rest of a warm verification:
  // build the KeyObject on first access only, from `spki`, a copy no caller can reach, so that it is
  // the signed key even if the caller has since written to publicKeyDer or publicKeyBytes.
  let key: KeyObject | null | undefined
  Object.defineProperty(result, 'publicKey', {
    enumerable: true,
    get: () => (key === undefined ? (key = spki === null ? null : importSpki(spki)) : key),
  })
  return result
}

/** Strict DER SubjectPublicKeyInfo shape: SEQUENCE { SEQUENCE { OID, ... }, BIT STRING }, nothing after. */
function isSpki(b: Uint8Array): boolean {
  const fail = (): never => {
    throw new SpkiShapeError()
  }
  try {
    const top = new DerReader(b, fail)
    const spki = top.inner(top.read(TAG.SEQUENCE))
    top.finish('')
    const alg = spki.inner(spki.read(TAG.SEQUENCE))
    alg.read(TAG.OID)
    spki.bitString(spki.read(TAG.BIT_STRING), '')
    spki.finish('')
    return true
  } catch (e) {
    if (e instanceof SpkiShapeError) return false
    throw e
  }
}
class SpkiShapeError extends Error {}

/** The KeyObject for an SPKI, or null when node cannot import it (unknown algorithm, bad point). */
function importSpki(der: Uint8Array): KeyObject | null {
  try {
    return createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' })
  } catch {
    return null
  }
}

/**
 * Verifies an AWS Nitro attestation document (NSM enclave or NitroTPM) and applies `opts`'s
 * policy. Resolves with the verified contents; rejects with an {@link AttestationError} whose
 * `code` says why, or a TypeError for invalid options.
 *
 * @example
 * ```ts
 * const r = await verifyAttestation(doc, { expectedPcrs: { 0: pcr0Hex }, nonce, maxAgeMs: 300_000 })
 * r.publicKey // the enclave's KeyObject, bound by AWS's signature
 * ```
 */
export async function verifyAttestation(doc: Uint8Array, opts?: VerifyOptions): Promise<AttestationResult> {
  return verifyAttestationSync(doc, opts)
}
