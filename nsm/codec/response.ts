/**
 * NSM responses exactly as aws-nitro-enclaves-nsm-api's `Response` enum serialises with
 * serde_cbor (externally tagged; `Error(ErrorCode)` is the newtype form `{"Error": "<name>"}`).
 *
 * `decodeResponse` takes hostile bytes (whatever a device, a server or a man in the middle
 * returns): strict CBOR, bounded depth and item count, exact field sets, exact types and
 * lengths. Every rejection is an `NsmProtocolError`; a well-formed `Error` response decodes to
 * `{type: 'Error'}` and the caller turns it into the typed NSM error.
 * @module
 */
import { decodeCbor, encodeCbor, CborError, type CborMap, type CborValue, type EncodableValue } from '../../common/cbor.js'
import { NSM_RESPONSE_MAX_SIZE, type NsmDescription } from '../attester.js'
import { isNsmErrorName, NsmProtocolError, type NsmErrorName } from '../errors.js'

export type NsmResponse =
  | { type: 'DescribePCR'; lock: boolean; data: Uint8Array }
  | { type: 'ExtendPCR'; data: Uint8Array }
  | { type: 'LockPCR' }
  | { type: 'LockPCRs' }
  | ({ type: 'DescribeNSM' } & NsmDescription)
  | { type: 'Attestation'; document: Uint8Array }
  | { type: 'GetRandom'; random: Uint8Array }
  | { type: 'Error'; error: NsmErrorName }

export type NsmResponseType = NsmResponse['type']

/** module_id bound: the nsm-lib C struct holds 100 bytes. */
export const MAX_MODULE_ID = 100
/** locked_pcrs bound: the nsm-lib C struct holds 64 entries. */
export const MAX_LOCKED_PCRS = 64
const DIGESTS = ['SHA256', 'SHA384', 'SHA512'] as const

/** The serde value of a response, fields in the Rust declaration order. */
function toSerde(res: NsmResponse): EncodableValue {
  switch (res.type) {
    case 'LockPCR':
    case 'LockPCRs':
      return res.type
    case 'DescribePCR':
      return new Map([['DescribePCR', new Map<string, EncodableValue>([['lock', res.lock], ['data', res.data]])]])
    case 'ExtendPCR':
      return new Map([['ExtendPCR', new Map([['data', res.data]])]])
    case 'DescribeNSM':
      return new Map([
        [
          'DescribeNSM',
          new Map<string, EncodableValue>([
            ['version_major', res.versionMajor],
            ['version_minor', res.versionMinor],
            ['version_patch', res.versionPatch],
            ['module_id', res.moduleId],
            ['max_pcrs', res.maxPcrs],
            // BTreeSet<u16>: ascending, unique
            ['locked_pcrs', [...new Set(res.lockedPcrs)].sort((a, b) => a - b)],
            ['digest', res.digest],
          ]),
        ],
      ])
    case 'Attestation':
      return new Map([['Attestation', new Map([['document', res.document]])]])
    case 'GetRandom':
      return new Map([['GetRandom', new Map([['random', res.random]])]])
    case 'Error':
      return new Map([['Error', res.error]])
    default:
      throw new TypeError(`unknown NSM response type ${String((res as { type: unknown }).type)}`)
  }
}

/** Encodes a response (server side). */
export function encodeResponse(res: NsmResponse): Uint8Array {
  return encodeCbor(toSerde(res))
}

function bad(why: string, cause?: unknown): NsmProtocolError {
  return new NsmProtocolError(`malformed NSM response: ${why}`, cause === undefined ? undefined : { cause })
}

function fields(v: CborValue, variant: string, names: readonly string[]): Map<string, CborValue> {
  if (!(v instanceof Map)) throw bad(`${variant} body is not a map`)
  const m = v as CborMap
  if (m.size !== names.length) throw bad(`${variant} has ${m.size} fields, expected ${names.length}`)
  for (const k of m.keys()) if (typeof k !== 'string' || !names.includes(k)) throw bad(`${variant} has an unexpected field ${JSON.stringify(String(k))}`)
  return m as Map<string, CborValue>
}

function u16(v: CborValue, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) throw bad(`${what} is not a u16`)
  return v
}

function bytes(v: CborValue, what: string, min: number, max: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw bad(`${what} is not a byte string`)
  if (v.length < min || v.length > max) throw bad(`${what} has ${v.length} bytes, expected ${min}..${max}`)
  // Copy: the decoder returns views into the (possibly reused) response buffer.
  return v.slice()
}

function pcrValue(v: CborValue, what: string): Uint8Array {
  const b = bytes(v, what, 32, 64)
  if (b.length !== 32 && b.length !== 48 && b.length !== 64) throw bad(`${what} has ${b.length} bytes, not a SHA-256/384/512 digest`)
  return b
}

/** Decodes a response. Bytes beyond `bytes.length` are never looked at (callers pass only the returned length). */
export function decodeResponse(input: Uint8Array): NsmResponse {
  if (!(input instanceof Uint8Array)) throw new TypeError('"input" must be a Uint8Array')
  if (input.length === 0) throw bad('empty')
  if (input.length > NSM_RESPONSE_MAX_SIZE) throw bad(`${input.length} bytes exceed ${NSM_RESPONSE_MAX_SIZE}`)
  let v: CborValue
  try {
    v = decodeCbor(input, { maxDepth: 4, maxItems: 256 })
  } catch (e) {
    if (e instanceof CborError) throw bad(`not valid CBOR: ${e.message}`, e)
    throw e
  }
  if (v === 'LockPCR' || v === 'LockPCRs') return { type: v }
  if (typeof v === 'string') throw bad(`unknown unit response ${JSON.stringify(v.slice(0, 40))}`)
  if (!(v instanceof Map) || v.size !== 1) throw bad('neither a unit variant nor a one-entry map')
  const [variant, body] = [...(v as CborMap)][0]
  switch (variant) {
    case 'Error': {
      if (!isNsmErrorName(body)) throw bad('Error carries an unknown ErrorCode')
      return { type: 'Error', error: body }
    }
    case 'DescribePCR': {
      const f = fields(body, variant, ['lock', 'data'])
      const lock = f.get('lock')
      if (typeof lock !== 'boolean') throw bad('DescribePCR.lock is not a bool')
      return { type: variant, lock, data: pcrValue(f.get('data'), 'DescribePCR.data') }
    }
    case 'ExtendPCR': {
      const f = fields(body, variant, ['data'])
      return { type: variant, data: pcrValue(f.get('data'), 'ExtendPCR.data') }
    }
    case 'DescribeNSM': {
      const f = fields(body, variant, ['version_major', 'version_minor', 'version_patch', 'module_id', 'max_pcrs', 'locked_pcrs', 'digest'])
      const moduleId = f.get('module_id')
      if (typeof moduleId !== 'string' || moduleId.length === 0 || Buffer.byteLength(moduleId) > MAX_MODULE_ID) {
        throw bad(`DescribeNSM.module_id is not a text of 1..${MAX_MODULE_ID} bytes`)
      }
      const digest = f.get('digest')
      if (typeof digest !== 'string' || !(DIGESTS as readonly string[]).includes(digest)) throw bad('DescribeNSM.digest is not SHA256/SHA384/SHA512')
      const maxPcrs = u16(f.get('max_pcrs'), 'DescribeNSM.max_pcrs')
      const locked = f.get('locked_pcrs')
      if (!Array.isArray(locked) || locked.length > MAX_LOCKED_PCRS) throw bad(`DescribeNSM.locked_pcrs is not an array of at most ${MAX_LOCKED_PCRS}`)
      const lockedPcrs = locked.map((x, i) => u16(x, `DescribeNSM.locked_pcrs[${i}]`))
      // A BTreeSet serialises ascending and unique; anything else did not come from an NSM.
      for (let i = 1; i < lockedPcrs.length; i++) {
        if (lockedPcrs[i] <= lockedPcrs[i - 1]) throw bad('DescribeNSM.locked_pcrs is not strictly ascending')
      }
      return {
        type: variant,
        versionMajor: u16(f.get('version_major'), 'DescribeNSM.version_major'),
        versionMinor: u16(f.get('version_minor'), 'DescribeNSM.version_minor'),
        versionPatch: u16(f.get('version_patch'), 'DescribeNSM.version_patch'),
        moduleId,
        maxPcrs,
        lockedPcrs,
        digest: digest as (typeof DIGESTS)[number],
      }
    }
    case 'Attestation': {
      const f = fields(body, variant, ['document'])
      return { type: variant, document: bytes(f.get('document'), 'Attestation.document', 1, NSM_RESPONSE_MAX_SIZE) }
    }
    case 'GetRandom': {
      const f = fields(body, variant, ['random'])
      return { type: variant, random: bytes(f.get('random'), 'GetRandom.random', 1, NSM_RESPONSE_MAX_SIZE) }
    }
    default:
      throw bad(`unknown response ${JSON.stringify(String(variant).slice(0, 40))}`)
  }
}
