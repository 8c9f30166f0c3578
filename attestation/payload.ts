/**
 * The attestation document payload schema (aws-nitro-enclaves-nsm-api docs/attestation_process.md
 * §2.2 and §3.2.2, with the deviations real documents show: optional fields are present as CBOR
 * null, public_key, user_data and nonce may be empty, they go up to 1024 bytes). Unknown keys are rejected.
 * @module
 */
import type { CborMap, CborValue } from '../common/cbor.js'
import { SchemaError } from './errors.js'

export type AttestationKind = 'enclave' | 'nitrotpm'

/** A schema-checked payload. Byte fields are views into the document: copy before keeping. */
export interface AttestationPayload {
  readonly kind: AttestationKind
  readonly moduleId: string
  readonly digest: 'SHA384'
  /** Milliseconds since the epoch. */
  readonly timestamp: number
  readonly pcrs: ReadonlyMap<number, Uint8Array>
  readonly certificate: Uint8Array
  readonly cabundle: readonly Uint8Array[]
  readonly publicKey: Uint8Array | null
  readonly userData: Uint8Array | null
  readonly nonce: Uint8Array | null
}

/** Bounds, in one place so that tests and docs can cite them. */
export const LIMITS = Object.freeze({
  moduleIdBytes: 256,
  /** Enclave PCR indices 0..31; NitroTPM 0..23. */
  enclavePcrCount: 32,
  nitroTpmPcrCount: 24,
  enclavePcrLengths: [32, 48, 64] as readonly number[],
  nitroTpmPcrLength: 48,
  certificateBytes: 1024,
  /** AWS chains have 4 entries; room for more, but not unbounded. */
  cabundleEntries: 16,
  publicKeyBytes: 1024,
  userDataBytes: 1024,
  nonceBytes: 1024,
})

const KEYS = new Set(['module_id', 'digest', 'timestamp', 'pcrs', 'nitrotpm_pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce'])
/** 8.64e15 ms: the largest instant a JS Date represents. */
const MAX_TIMESTAMP = 8.64e15

/** Checks a decoded payload against the schema; throws SchemaError naming the field. */
export function parsePayload(value: CborValue): AttestationPayload {
  if (!(value instanceof Map)) throw new SchemaError('payload', 'not a CBOR map')
  const map = value as CborMap
  for (const k of map.keys()) {
    if (typeof k !== 'string') throw new SchemaError('payload', `non-text key ${String(k)}`)
    if (!KEYS.has(k)) throw new SchemaError(k, 'unknown key')
  }
  const moduleId = map.get('module_id')
  if (typeof moduleId !== 'string' || moduleId.length === 0) throw new SchemaError('module_id', 'must be a non-empty text string')
  if (Buffer.byteLength(moduleId, 'utf8') > LIMITS.moduleIdBytes) throw new SchemaError('module_id', `longer than ${LIMITS.moduleIdBytes} bytes`)
  const digest = map.get('digest')
  if (digest !== 'SHA384') throw new SchemaError('digest', 'must be "SHA384"')
  const timestamp = map.get('timestamp')
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp <= 0 || timestamp > MAX_TIMESTAMP) {
    throw new SchemaError('timestamp', 'must be a positive integer of milliseconds')
  }

  const hasEnclave = map.has('pcrs')
  const hasTpm = map.has('nitrotpm_pcrs')
  if (hasEnclave === hasTpm) throw new SchemaError('pcrs', 'exactly one of pcrs and nitrotpm_pcrs is required')
  const kind: AttestationKind = hasEnclave ? 'enclave' : 'nitrotpm'
  const pcrs = hasEnclave
    ? parsePcrs('pcrs', map.get('pcrs'), LIMITS.enclavePcrCount, LIMITS.enclavePcrLengths)
    : parsePcrs('nitrotpm_pcrs', map.get('nitrotpm_pcrs'), LIMITS.nitroTpmPcrCount, [LIMITS.nitroTpmPcrLength])

  const certificate = bytes('certificate', map.get('certificate'), 1, LIMITS.certificateBytes)
  const bundle = map.get('cabundle')
  if (!Array.isArray(bundle) || bundle.length === 0) throw new SchemaError('cabundle', 'must be a non-empty array')
  if (bundle.length > LIMITS.cabundleEntries) throw new SchemaError('cabundle', `more than ${LIMITS.cabundleEntries} certificates`)
  const cabundle = bundle.map((c, i) => bytes(`cabundle[${i}]`, c, 1, LIMITS.certificateBytes))

  return {
    kind,
    moduleId,
    digest,
    timestamp,
    pcrs,
    certificate,
    cabundle,
    // 0..1024 as the issue and AWS's CDDL say (§3.2.2.2's 1..1024 would reject what the CDDL allows)
    publicKey: optionalBytes(map, 'public_key', 0, LIMITS.publicKeyBytes),
    userData: optionalBytes(map, 'user_data', 0, LIMITS.userDataBytes),
    nonce: optionalBytes(map, 'nonce', 0, LIMITS.nonceBytes),
  }
}

function parsePcrs(field: string, v: CborValue, count: number, lengths: readonly number[]): Map<number, Uint8Array> {
  if (!(v instanceof Map)) throw new SchemaError(field, 'must be a map')
  if (v.size === 0 || v.size > count) throw new SchemaError(field, `must have 1..${count} entries`)
  const out = new Map<number, Uint8Array>()
  for (const [k, x] of v) {
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= count) throw new SchemaError(field, `index ${String(k)} out of range 0..${count - 1}`)
    if (!(x instanceof Uint8Array) || !lengths.includes(x.length)) {
      throw new SchemaError(field, `PCR${k} must be a byte string of ${lengths.join('/')} bytes`)
    }
    out.set(k, x)
  }
  return out
}

function bytes(field: string, v: CborValue, min: number, max: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new SchemaError(field, 'must be a byte string')
  if (v.length < min || v.length > max) throw new SchemaError(field, `length ${v.length} outside ${min}..${max}`)
  return v
}

/** Absent and CBOR null both mean "not provided" (every real document sends null); CBOR undefined does not. */
function optionalBytes(map: CborMap, field: string, min: number, max: number): Uint8Array | null {
  if (!map.has(field)) return null
  const v = map.get(field)
  return v === null ? null : bytes(field, v, min, max)
}
