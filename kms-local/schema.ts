/**
 * Request shapes of the KMS operations (from the service model) and their validation, the way KMS
 * reports problems: a wrong JSON type, an unknown member or bad base64 is SerializationException;
 * a constraint (required, length, range, enum, list size) is ValidationException with KMS's
 * "N validation error(s) detected: Value ... at 'member' failed to satisfy constraint: ..." text.
 * Unknown members are refused (KMS's own front end is more lenient): a misspelt `Recipient` that
 * were ignored would turn an attested call into a plaintext one.
 * @module
 */
import { kms } from './errors.js'
import { isJsonObject, type JsonObject, type JsonValue } from './json.js'

export type Shape =
  | { t: 'string'; min?: number; max?: number; required?: boolean }
  | { t: 'blob'; min?: number; max?: number; required?: boolean }
  | { t: 'int'; min?: number; max?: number; required?: boolean }
  | { t: 'bool'; required?: boolean }
  | { t: 'enum'; values: readonly string[]; required?: boolean }
  | { t: 'map'; required?: boolean }
  | { t: 'list'; of: Shape; max?: number; min?: number; required?: boolean }
  | { t: 'struct'; members: Record<string, Shape>; required?: boolean }

export type Value = string | Buffer | number | boolean | Record<string, string> | Value[] | { [k: string]: Value }

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** camelCase member path, as KMS prints it ('numberOfBytes', 'recipient.attestationDocument'). */
function memberPath(path: string[]): string {
  return path.map((p) => (/^\d+$/.test(p) ? `[${p}]` : p.slice(0, 1).toLowerCase() + p.slice(1))).join('.').replace(/\.\[/g, '[')
}

function show(v: JsonValue): string {
  if (typeof v === 'string') return v.length > 64 ? `${v.slice(0, 64)}...` : v
  return String(v)
}

/**
 * Validates `body` against `members` and returns decoded values (blobs as Buffers).
 * @throws {KmsError} SerializationException or ValidationException
 */
export function validateRequest(body: JsonValue, members: Record<string, Shape>): Record<string, Value> {
  if (!isJsonObject(body)) throw kms('SerializationException', 'Start of structure or map found where not expected.')
  const errors: string[] = []
  const out = walkStruct(body, members, [], errors)
  if (errors.length > 0) {
    throw kms('ValidationException', `${errors.length} validation error${errors.length > 1 ? 's' : ''} detected: ${errors.join('; ')}`)
  }
  return out
}

function walkStruct(obj: JsonObject, members: Record<string, Shape>, path: string[], errors: string[]): Record<string, Value> {
  const out: Record<string, Value> = Object.create(null) as Record<string, Value>
  for (const k of Object.keys(obj)) {
    if (!Object.hasOwn(members, k)) throw kms('SerializationException', `Unrecognized field '${show(k)}' in ${path.length ? memberPath(path) : 'the request'}`)
  }
  for (const [name, shape] of Object.entries(members)) {
    const v = Object.hasOwn(obj, name) ? obj[name] : null
    const p = [...path, name]
    if (v === null) {
      if (shape.required) errors.push(`Value null at '${memberPath(p)}' failed to satisfy constraint: Member must not be null`)
      continue
    }
    const r = walk(v, shape, p, errors)
    if (r !== undefined) out[name] = r
  }
  return out
}

function typeError(path: string[], want: string): never {
  throw kms('SerializationException', `Expected ${want} at '${memberPath(path)}'`)
}

function walk(v: JsonValue, shape: Shape, path: string[], errors: string[]): Value | undefined {
  const at = memberPath(path)
  switch (shape.t) {
    case 'string': {
      if (typeof v !== 'string') typeError(path, 'a string')
      if (shape.min !== undefined && v.length < shape.min) {
        errors.push(`Value '${show(v)}' at '${at}' failed to satisfy constraint: Member must have length greater than or equal to ${shape.min}`)
      }
      if (shape.max !== undefined && v.length > shape.max) {
        errors.push(`Value '${show(v)}' at '${at}' failed to satisfy constraint: Member must have length less than or equal to ${shape.max}`)
      }
      return v
    }
    case 'blob': {
      if (typeof v !== 'string') typeError(path, 'a base64 string')
      if (!BASE64_RE.test(v)) throw kms('SerializationException', `Base64 encoded value at '${at}' is malformed`)
      const b = Buffer.from(v, 'base64')
      // Canonical only: 'AB==' would otherwise be a second spelling of 'AA==' (the padding bits are dropped).
      if (b.toString('base64') !== v) throw kms('SerializationException', `Base64 encoded value at '${at}' is malformed`)
      // Never echo blob contents: they may be plaintext.
      if (shape.min !== undefined && b.length < shape.min) {
        errors.push(`Value at '${at}' failed to satisfy constraint: Member must have length greater than or equal to ${shape.min}`)
      }
      if (shape.max !== undefined && b.length > shape.max) {
        errors.push(`Value at '${at}' failed to satisfy constraint: Member must have length less than or equal to ${shape.max}`)
      }
      return b
    }
    case 'int': {
      if (typeof v !== 'number') typeError(path, 'a number')
      if (!Number.isInteger(v)) throw kms('SerializationException', `Expected an integer at '${at}'`)
      if (shape.min !== undefined && v < shape.min) {
        errors.push(`Value '${v}' at '${at}' failed to satisfy constraint: Member must have value greater than or equal to ${shape.min}`)
      }
      if (shape.max !== undefined && v > shape.max) {
        errors.push(`Value '${v}' at '${at}' failed to satisfy constraint: Member must have value less than or equal to ${shape.max}`)
      }
      return v
    }
    case 'bool':
      if (typeof v !== 'boolean') typeError(path, 'a boolean')
      return v
    case 'enum':
      if (typeof v !== 'string') typeError(path, 'a string')
      if (!shape.values.includes(v)) {
        errors.push(`Value '${show(v)}' at '${at}' failed to satisfy constraint: Member must satisfy enum value set: [${shape.values.join(', ')}]`)
      }
      return v
    case 'map': {
      if (!isJsonObject(v)) typeError(path, 'a map')
      const m: Record<string, string> = Object.create(null) as Record<string, string>
      for (const [k, x] of Object.entries(v)) {
        // The path is the map's: its keys are the caller's data (any string, even ''), not member names.
        if (typeof x !== 'string') typeError(path, 'string values')
        m[k] = x
      }
      return m
    }
    case 'list': {
      if (!Array.isArray(v)) typeError(path, 'a list')
      if (shape.max !== undefined && v.length > shape.max) {
        errors.push(`Value at '${at}' failed to satisfy constraint: Member must have length less than or equal to ${shape.max}`)
      }
      if (shape.min !== undefined && v.length < shape.min) {
        errors.push(`Value at '${at}' failed to satisfy constraint: Member must have length greater than or equal to ${shape.min}`)
      }
      const out: Value[] = []
      v.forEach((x, i) => {
        if (x === null) typeError([...path, String(i)], 'a value')
        const r = walk(x, shape.of, [...path, String(i)], errors)
        if (r !== undefined) out.push(r)
      })
      return out
    }
    case 'struct':
      if (!isJsonObject(v)) typeError(path, 'a structure')
      return walkStruct(v, shape.members, path, errors)
  }
}
