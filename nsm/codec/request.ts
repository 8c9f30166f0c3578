/**
 * NSM requests exactly as aws-nitro-enclaves-nsm-api's `Request` enum serialises with
 * serde_cbor: externally tagged (a unit variant is a bare text string, a struct variant a
 * one-entry map `{Variant: {field: value, ...}}`), fields in declaration order, `None` as CBOR
 * null (never omitted), byte fields as major type 2, integers in the shortest form.
 *
 * `decodeRequest` is the server side (simulator, NSM server): strict, and every rejection is
 * the NSM's own answer to a malformed request, `InvalidOperation` (QEMU virtio-nsm does the same).
 * @module
 */
import { decodeCbor, encodeCbor, CborError, type CborMap, type CborValue, type EncodableValue } from '../../common/cbor.js'
import { NSM_REQUEST_MAX_SIZE } from '../attester.js'
import { NsmInputTooLargeError, NsmInvalidIndexError, NsmInvalidOperationError } from '../errors.js'

export type NsmRequest =
  | { type: 'DescribeNSM' }
  | { type: 'GetRandom' }
  | { type: 'DescribePCR'; index: number }
  | { type: 'ExtendPCR'; index: number; data: Uint8Array }
  | { type: 'LockPCR'; index: number }
  | { type: 'LockPCRs'; range: number }
  | { type: 'Attestation'; userData: Uint8Array | null; nonce: Uint8Array | null; publicKey: Uint8Array | null }

export type NsmRequestType = NsmRequest['type']

/** A u16 field (`index`, `range`): integers only; outside u16 the NSM could never receive it. */
function u16(value: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`"${what}" must be an integer`)
  if (value < 0 || value > 0xffff) throw new NsmInvalidIndexError(`NSM: InvalidIndex: ${what} ${value} is outside u16`)
  return value
}

function bytesOrNull(value: Uint8Array | null | undefined, what: string): Uint8Array | null {
  if (value === null || value === undefined) return null
  if (!(value instanceof Uint8Array)) throw new TypeError(`"${what}" must be a Uint8Array, null or undefined`)
  return value
}

/** The serde value of a request, before CBOR encoding (exposed for tests and the server). */
function toSerde(req: NsmRequest): EncodableValue {
  switch (req.type) {
    case 'DescribeNSM':
    case 'GetRandom':
      return req.type
    case 'DescribePCR':
      return new Map([['DescribePCR', new Map([['index', u16(req.index, 'index')]])]])
    case 'ExtendPCR': {
      if (!(req.data instanceof Uint8Array)) throw new TypeError('"data" must be a Uint8Array')
      const inner = new Map<string, EncodableValue>([
        ['index', u16(req.index, 'index')],
        ['data', req.data],
      ])
      return new Map([['ExtendPCR', inner]])
    }
    case 'LockPCR':
      return new Map([['LockPCR', new Map([['index', u16(req.index, 'index')]])]])
    case 'LockPCRs':
      return new Map([['LockPCRs', new Map([['range', u16(req.range, 'range')]])]])
    case 'Attestation': {
      const inner = new Map<string, EncodableValue>([
        ['user_data', bytesOrNull(req.userData, 'userData')],
        ['nonce', bytesOrNull(req.nonce, 'nonce')],
        ['public_key', bytesOrNull(req.publicKey, 'publicKey')],
      ])
      return new Map([['Attestation', inner]])
    }
    default:
      throw new TypeError(`unknown NSM request type ${String((req as { type: unknown }).type)}`)
  }
}

/**
 * Encodes a request. Requests over {@link NSM_REQUEST_MAX_SIZE} bytes are refused here, before
 * any ioctl or socket write, with the NSM's own name for it (`InputTooLarge`), as the Rust crate does.
 */
export function encodeRequest(req: NsmRequest): Uint8Array {
  const bytes = encodeCbor(toSerde(req))
  if (bytes.length > NSM_REQUEST_MAX_SIZE) {
    throw new NsmInputTooLargeError(`NSM: InputTooLarge: request of ${bytes.length} bytes exceeds ${NSM_REQUEST_MAX_SIZE}`)
  }
  return bytes
}

function malformed(why: string): NsmInvalidOperationError {
  return new NsmInvalidOperationError(`NSM: InvalidOperation: ${why}`)
}

/** The fields of a struct variant: text keys only, exactly `required` plus any of `optional`. */
function fields(v: CborValue, variant: string, required: string[], optional: string[] = []): Map<string, CborValue> {
  if (!(v instanceof Map)) throw malformed(`${variant} body is not a map`)
  const out = new Map<string, CborValue>()
  for (const [k, x] of v as CborMap) {
    if (typeof k !== 'string' || (!required.includes(k) && !optional.includes(k))) {
      throw malformed(`${variant} has an unexpected field ${JSON.stringify(String(k))}`)
    }
    out.set(k, x)
  }
  for (const k of required) if (!out.has(k)) throw malformed(`${variant} lacks field ${k}`)
  return out
}

function fieldU16(v: CborValue, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) throw malformed(`${what} is not a u16`)
  return v
}

function fieldBytes(v: CborValue, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw malformed(`${what} is not a byte string`)
  return v.slice()
}

function fieldBytesOrNull(v: CborValue, what: string): Uint8Array | null {
  return v === null || v === undefined ? null : fieldBytes(v, what)
}

/**
 * Decodes a request received by a server. Strict CBOR (no duplicate keys, no trailing bytes),
 * byte fields must be major type 2, unknown variants/fields are refused. Missing Attestation
 * fields read as null, matching serde's `Option` handling.
 */
export function decodeRequest(bytes: Uint8Array): NsmRequest {
  if (bytes.length > NSM_REQUEST_MAX_SIZE) throw new NsmInputTooLargeError()
  let v: CborValue
  try {
    v = decodeCbor(bytes, { maxDepth: 4, maxItems: 64 })
  } catch (e) {
    if (e instanceof CborError) throw malformed(`request is not valid CBOR: ${e.message}`)
    throw e
  }
  if (v === 'DescribeNSM' || v === 'GetRandom') return { type: v }
  if (!(v instanceof Map) || v.size !== 1) throw malformed('request is neither a unit variant nor a one-entry map')
  const [variant, body] = [...(v as CborMap)][0]
  switch (variant) {
    case 'DescribePCR':
      return { type: variant, index: fieldU16(fields(body, variant, ['index']).get('index'), 'index') }
    case 'LockPCR':
      return { type: variant, index: fieldU16(fields(body, variant, ['index']).get('index'), 'index') }
    case 'LockPCRs':
      return { type: variant, range: fieldU16(fields(body, variant, ['range']).get('range'), 'range') }
    case 'ExtendPCR': {
      const f = fields(body, variant, ['index', 'data'])
      return { type: variant, index: fieldU16(f.get('index'), 'index'), data: fieldBytes(f.get('data'), 'data') }
    }
    case 'Attestation': {
      const f = fields(body, variant, [], ['user_data', 'nonce', 'public_key'])
      return {
        type: variant,
        userData: fieldBytesOrNull(f.get('user_data'), 'user_data'),
        nonce: fieldBytesOrNull(f.get('nonce'), 'nonce'),
        publicKey: fieldBytesOrNull(f.get('public_key'), 'public_key'),
      }
    }
    default:
      throw malformed(`unknown request ${JSON.stringify(String(variant))}`)
  }
}
