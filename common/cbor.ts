/**
 * Strict CBOR (RFC 8949) for hostile input: attestation documents, NSM responses, EIF signature
 * sections. A hand-written walker rather than cbor-x's decoder because cbor-x is built for speed
 * and leniency (it keeps the last of duplicate keys and stops at the first complete item), while
 * here every one of those is a rejection with a typed error.
 *
 * Rejected: truncated items, declared lengths beyond the input, reserved additional-information
 * values, a stray "break", indefinite-length strings with chunks of another type (or a UTF-8
 * character split across text chunks), duplicate map keys, map keys other than integers and text,
 * invalid UTF-8, nesting deeper than `maxDepth`, more than `maxItems` items, trailing bytes, floats
 * and unassigned simple values (unless asked).
 * Accepted: definite and indefinite lengths (current AWS attestation documents use an
 * indefinite-length payload map), non-minimal integer widths (we verify bytes as received and
 * never re-encode, so width does not create ambiguity).
 *
 * Byte strings are returned as views into the input (no copy): treat them as read-only.
 * @module
 */
import { NitroError } from './errors.js'

export type CborErrorCode =
  | 'ERR_CBOR_MALFORMED'
  | 'ERR_CBOR_DUPLICATE_KEY'
  | 'ERR_CBOR_TRAILING_BYTES'
  | 'ERR_CBOR_TOO_DEEP'
  | 'ERR_CBOR_TOO_LARGE'
  | 'ERR_CBOR_UNSUPPORTED'

export class CborError extends NitroError {
  declare readonly code: CborErrorCode
  /** Byte offset in the input where the problem was found. */
  readonly offset: number
  constructor(code: CborErrorCode, message: string, offset: number) {
    super(code, `${message} (at byte ${offset})`)
    this.offset = offset
  }
}

/** A tagged item (major type 6). */
export class CborTag {
  constructor(
    readonly tag: number | bigint,
    readonly value: CborValue,
  ) {}
}

export type CborKey = number | bigint | string
export type CborMap = Map<CborKey, CborValue>
export type CborValue =
  | number
  | bigint
  | string
  | Uint8Array
  | boolean
  | null
  | undefined
  | CborValue[]
  | CborMap
  | CborTag

/** For the encoder: a map written with indefinite length (0xbf ... 0xff), in insertion order. */
export class CborIndefiniteMap extends Map<CborKey, EncodableValue> {}

export type EncodableValue =
  | number
  | bigint
  | string
  | Uint8Array
  | boolean
  | null
  | undefined
  | readonly EncodableValue[]
  | ReadonlyMap<CborKey, EncodableValue>
  | CborTag
  | { readonly [key: string]: EncodableValue }

export interface DecodeOptions {
  /** Maximum nesting of arrays, maps and tags, 1..256. Default 16. */
  maxDepth?: number
  /** Maximum number of data items in total. Default 65536. */
  maxItems?: number
  /** Maximum input size in bytes. Default 16 MiB. */
  maxBytes?: number
  /** Accept half/single/double floats (returned as number). Default false. */
  allowFloats?: boolean
}

const DEFAULTS = { maxDepth: 16, maxItems: 65536, maxBytes: 16 * 1024 * 1024, allowFloats: false }

/** Values decoded from an indefinite-length encoding (maps, arrays; strings are joined). */
const indefinite = new WeakSet<object>()

/** True when `value` (a map or array returned by the decoder) was encoded with indefinite length. */
export function wasIndefinite(value: object): boolean {
  return indefinite.has(value)
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
function isUtf8(b: Uint8Array): boolean {
  try {
    utf8.decode(b)
    return true
  } catch {
    return false
  }
}
const BREAK = Symbol('break')

class Decoder {
  pos: number
  items = 0
  readonly view: DataView
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly opts: Required<DecodeOptions>,
  ) {
    this.pos = start
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }

  fail(code: CborErrorCode, message: string, at = this.pos): never {
    throw new CborError(code, message, at)
  }

  need(n: number, what: string): void {
    if (n > this.buf.length - this.pos) this.fail('ERR_CBOR_MALFORMED', `truncated ${what}: needs ${n} bytes, ${this.buf.length - this.pos} left`)
  }

  /** Reads the argument of a head whose additional information is `ai` (< 28). */
  argument(ai: number, at: number): number | bigint {
    if (ai < 24) return ai
    switch (ai) {
      case 24:
        this.need(1, 'argument')
        return this.buf[this.pos++]
      case 25:
        this.need(2, 'argument')
        this.pos += 2
        return this.view.getUint16(this.pos - 2)
      case 26:
        this.need(4, 'argument')
        this.pos += 4
        return this.view.getUint32(this.pos - 4)
      case 27: {
        this.need(8, 'argument')
        const v = this.view.getBigUint64(this.pos)
        this.pos += 8
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
      }
      default:
        return this.fail('ERR_CBOR_MALFORMED', `reserved additional information ${ai}`, at)
    }
  }

  /** A length argument: must fit in the remaining input (each unit costs at least `unit` bytes). */
  length(ai: number, at: number, unit: number, what: string): number {
    const n = this.argument(ai, at)
    if (typeof n === 'bigint' || n * unit > this.buf.length - this.pos) {
      this.fail('ERR_CBOR_MALFORMED', `${what} declares ${String(n)} ${unit === 1 ? 'bytes' : 'entries'}, beyond the input`, at)
    }
    return n
  }

  countItem(at: number): void {
    if (++this.items > this.opts.maxItems) this.fail('ERR_CBOR_TOO_LARGE', `more than ${this.opts.maxItems} items`, at)
  }

  item(depth: number, allowBreak = false): CborValue | typeof BREAK {
    const at = this.pos
    this.need(1, 'item head')
    const ib = this.buf[this.pos++]
    const major = ib >> 5
    const ai = ib & 0x1f
    if (ib === 0xff) {
      if (allowBreak) return BREAK
      this.fail('ERR_CBOR_MALFORMED', 'unexpected break', at)
    }
    this.countItem(at)
    switch (major) {
      case 0:
        return this.argument(ai, at)
      case 1: {
        const n = this.argument(ai, at)
        if (typeof n === 'bigint') return -1n - n
        // -1 - n stays a safe integer only up to n = MAX_SAFE_INTEGER - 1
        return n < Number.MAX_SAFE_INTEGER ? -1 - n : -1n - BigInt(n)
      }
      case 2:
      case 3: {
        const bytes = ai === 31 ? this.chunks(major) : this.bytes(this.length(ai, at, 1, 'string'))
        if (major === 2) return bytes
        try {
          return utf8.decode(bytes)
        } catch {
          return this.fail('ERR_CBOR_MALFORMED', 'text string is not valid UTF-8', at)
        }
      }
      case 4:
        return this.array(ai, at, depth)
      case 5:
        return this.map(ai, at, depth)
      case 6: {
        if (ai === 31) this.fail('ERR_CBOR_MALFORMED', 'indefinite-length tag', at)
        const tag = this.argument(ai, at)
        if (depth + 1 > this.opts.maxDepth) this.fail('ERR_CBOR_TOO_DEEP', `nesting deeper than ${this.opts.maxDepth}`, at)
        return new CborTag(tag, this.value(depth + 1))
      }
      default:
        return this.simple(ai, at)
    }
  }

  value(depth: number): CborValue {
    return this.item(depth) as CborValue
  }

  bytes(n: number): Uint8Array {
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  /** Indefinite-length byte/text string: definite chunks of the same major type until break. */
  chunks(major: number): Uint8Array {
    const parts: Uint8Array[] = []
    let total = 0
    for (;;) {
      const cat = this.pos
      this.need(1, 'string chunk')
      const ib = this.buf[this.pos++]
      if (ib === 0xff) break
      if (ib >> 5 !== major || (ib & 0x1f) === 31) {
        this.fail('ERR_CBOR_MALFORMED', 'indefinite-length string chunk of another type', cat)
      }
      this.countItem(cat)
      const part = this.bytes(this.length(ib & 0x1f, cat, 1, 'string chunk'))
      // RFC 8949 §3.2.3: each chunk of a text string is itself valid UTF-8 (no character split across chunks)
      if (major === 3 && !isUtf8(part)) this.fail('ERR_CBOR_MALFORMED', 'text string chunk is not valid UTF-8', cat)
      parts.push(part)
      total += part.length
    }
    const out = new Uint8Array(total)
    let off = 0
    for (const p of parts) {
      out.set(p, off)
      off += p.length
    }
    return out
  }

  array(ai: number, at: number, depth: number): CborValue[] {
    if (depth + 1 > this.opts.maxDepth) this.fail('ERR_CBOR_TOO_DEEP', `nesting deeper than ${this.opts.maxDepth}`, at)
    const out: CborValue[] = []
    if (ai === 31) {
      indefinite.add(out)
      for (;;) {
        const v = this.item(depth + 1, true)
        if (v === BREAK) return out
        out.push(v)
      }
    }
    const n = this.length(ai, at, 1, 'array')
    for (let i = 0; i < n; i++) out.push(this.value(depth + 1))
    return out
  }

  map(ai: number, at: number, depth: number): CborMap {
    if (depth + 1 > this.opts.maxDepth) this.fail('ERR_CBOR_TOO_DEEP', `nesting deeper than ${this.opts.maxDepth}`, at)
    const out: CborMap = new Map()
    const entry = (): boolean => {
      const kat = this.pos
      const k = this.item(depth + 1, ai === 31)
      if (k === BREAK) return false
      if (typeof k !== 'number' && typeof k !== 'bigint' && typeof k !== 'string') {
        this.fail('ERR_CBOR_UNSUPPORTED', 'map key is not an integer or text string', kat)
      }
      if (out.has(k)) this.fail('ERR_CBOR_DUPLICATE_KEY', `duplicate map key ${JSON.stringify(typeof k === 'bigint' ? k.toString() : k)}`, kat)
      out.set(k, this.value(depth + 1))
      return true
    }
    if (ai === 31) {
      indefinite.add(out)
      while (entry());
      return out
    }
    const n = this.length(ai, at, 2, 'map')
    for (let i = 0; i < n; i++) entry()
    return out
  }

  simple(ai: number, at: number): CborValue {
    switch (ai) {
      case 20:
        return false
      case 21:
        return true
      case 22:
        return null
      case 23:
        return undefined
      case 25:
      case 26:
      case 27: {
        if (!this.opts.allowFloats) this.fail('ERR_CBOR_UNSUPPORTED', 'floating-point value', at)
        const n = ai === 25 ? 2 : ai === 26 ? 4 : 8
        this.need(n, 'float')
        const p = this.pos
        this.pos += n
        return n === 2 ? halfToNumber(this.view.getUint16(p)) : n === 4 ? this.view.getFloat32(p) : this.view.getFloat64(p)
      }
      case 28:
      case 29:
      case 30:
      case 31:
        return this.fail('ERR_CBOR_MALFORMED', `reserved simple value encoding ${ai}`, at)
      default:
        return this.fail('ERR_CBOR_UNSUPPORTED', `unassigned simple value`, at)
    }
  }
}

function halfToNumber(h: number): number {
  const exp = (h >> 10) & 0x1f
  const mant = h & 0x3ff
  const sign = h & 0x8000 ? -1 : 1
  if (exp === 0) return sign * 2 ** -14 * (mant / 1024)
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN
  return sign * 2 ** (exp - 15) * (1 + mant / 1024)
}

/** The decoder recurses once per nesting level: past a few thousand the stack runs out (RangeError). */
const DEPTH_CEILING = 256

/**
 * Each bound is a positive integer or undefined (the default). Spreading `opts` over the defaults
 * let `{ maxDepth: undefined }` or NaN switch a bound off, and a deep input then overflowed the stack.
 */
function options(opts: DecodeOptions | undefined): Required<DecodeOptions> {
  const o = { ...DEFAULTS }
  if (opts === undefined) return o
  for (const k of ['maxDepth', 'maxItems', 'maxBytes'] as const) {
    const v = opts[k]
    if (v === undefined) continue
    if (!Number.isSafeInteger(v) || v < 1 || (k === 'maxDepth' && v > DEPTH_CEILING)) {
      throw new TypeError(`"${k}" must be an integer from 1${k === 'maxDepth' ? ` to ${DEPTH_CEILING}` : ''}`)
    }
    o[k] = v
  }
  if (opts.allowFloats !== undefined) o.allowFloats = opts.allowFloats === true
  return o
}

function checkInput(bytes: Uint8Array, o: Required<DecodeOptions>): void {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('"bytes" must be a Uint8Array')
  if (bytes.length > o.maxBytes) throw new CborError('ERR_CBOR_TOO_LARGE', `input of ${bytes.length} bytes exceeds ${o.maxBytes}`, 0)
}

/** Decodes exactly one CBOR item that spans all of `bytes`. */
export function decodeCbor(bytes: Uint8Array, opts?: DecodeOptions): CborValue {
  const o = options(opts)
  checkInput(bytes, o)
  const d = new Decoder(bytes, 0, o)
  const v = d.value(0)
  if (d.pos !== bytes.length) d.fail('ERR_CBOR_TRAILING_BYTES', `${bytes.length - d.pos} trailing bytes after the item`)
  return v
}

/** Decodes one CBOR item starting at `offset`; returns it and the offset just past it. */
export function decodeCborPrefix(bytes: Uint8Array, offset = 0, opts?: DecodeOptions): { value: CborValue; end: number } {
  const o = options(opts)
  checkInput(bytes, o)
  if (!Number.isInteger(offset) || offset < 0 || offset > bytes.length) throw new RangeError('"offset" out of range')
  const d = new Decoder(bytes, offset, o)
  const value = d.value(0)
  return { value, end: d.pos }
}

// ---------------------------------------------------------------------------------------------
// Encoder: preferred serialisation (shortest heads), definite lengths except CborIndefiniteMap,
// map entries in insertion order (callers that need a canonical order sort first).

class Writer {
  chunks: Uint8Array[] = []
  size = 0
  push(b: Uint8Array): void {
    this.chunks.push(b)
    this.size += b.length
  }
  head(major: number, n: number | bigint): void {
    const m = major << 5
    if (typeof n === 'bigint') {
      if (n < 0n || n > 0xffffffffffffffffn) throw new RangeError('CBOR argument out of range')
      if (n <= BigInt(Number.MAX_SAFE_INTEGER)) return this.head(major, Number(n))
      const b = new Uint8Array(9)
      b[0] = m | 27
      new DataView(b.buffer).setBigUint64(1, n)
      return this.push(b)
    }
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('CBOR argument must be a non-negative safe integer')
    if (n < 24) return this.push(Uint8Array.of(m | n))
    if (n < 0x100) return this.push(Uint8Array.of(m | 24, n))
    if (n < 0x10000) return this.push(Uint8Array.of(m | 25, n >> 8, n & 0xff))
    if (n < 0x100000000) {
      const b = new Uint8Array(5)
      b[0] = m | 26
      new DataView(b.buffer).setUint32(1, n)
      return this.push(b)
    }
    const b = new Uint8Array(9)
    b[0] = m | 27
    new DataView(b.buffer).setBigUint64(1, BigInt(n))
    this.push(b)
  }
}

const utf8e = new TextEncoder()

function write(w: Writer, v: EncodableValue, depth: number): void {
  if (depth > 64) throw new RangeError('CBOR value nested too deeply')
  if (v === null) return w.push(Uint8Array.of(0xf6))
  if (v === undefined) return w.push(Uint8Array.of(0xf7))
  if (v === false) return w.push(Uint8Array.of(0xf4))
  if (v === true) return w.push(Uint8Array.of(0xf5))
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RangeError('only safe integers can be encoded as CBOR numbers')
    return v >= 0 ? w.head(0, v) : w.head(1, -1 - v)
  }
  if (typeof v === 'bigint') return v >= 0n ? w.head(0, v) : w.head(1, -1n - v)
  if (typeof v === 'string') {
    const b = utf8e.encode(v)
    w.head(3, b.length)
    return w.push(b)
  }
  if (v instanceof Uint8Array) {
    w.head(2, v.length)
    return w.push(v)
  }
  if (v instanceof CborTag) {
    w.head(6, v.tag)
    return write(w, v.value as EncodableValue, depth + 1)
  }
  if (Array.isArray(v)) {
    w.head(4, v.length)
    for (const x of v as readonly EncodableValue[]) write(w, x, depth + 1)
    return
  }
  if (v instanceof Map) {
    const indef = v instanceof CborIndefiniteMap
    if (indef) w.push(Uint8Array.of(0xbf))
    else w.head(5, v.size)
    for (const [k, x] of v as ReadonlyMap<CborKey, EncodableValue>) {
      write(w, k, depth + 1)
      write(w, x, depth + 1)
    }
    if (indef) w.push(Uint8Array.of(0xff))
    return
  }
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, EncodableValue>)
    w.head(5, entries.length)
    for (const [k, x] of entries) {
      write(w, k, depth + 1)
      write(w, x, depth + 1)
    }
    return
  }
  throw new TypeError(`cannot encode ${typeof v} as CBOR`)
}

/** Encodes a value; see the section comment for the rules. */
export function encodeCbor(value: EncodableValue): Uint8Array {
  const w = new Writer()
  write(w, value, 0)
  const out = new Uint8Array(w.size)
  let off = 0
  for (const c of w.chunks) {
    out.set(c, off)
    off += c.length
  }
  return out
}
