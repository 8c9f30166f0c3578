/**
 * A minimal strict DER reader, just enough for X.509 certificates. Node's X509Certificate hides
 * basicConstraints, keyUsage and criticality, and BER-tolerant parsers (asn1js) accept encodings
 * DER forbids, so the chain checks read the bytes themselves.
 *
 * Strictness: single-byte tags only, definite minimal lengths (no indefinite form, no leading
 * zero length octets, long form only from 128), lengths within the input, no trailing bytes.
 * Each failure calls `fail(message)`, which must throw (the caller supplies its typed error).
 * @module
 */

/** One TLV: `tag` byte, value `start..end` in `buf`, and the whole encoding `headerStart..end`. */
export interface Tlv {
  readonly tag: number
  readonly headerStart: number
  readonly start: number
  readonly end: number
}

export type Fail = (message: string) => never

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const

/** Sequential reader over `buf[start..end)`. */
export class DerReader {
  private pos: number

  constructor(
    readonly buf: Uint8Array,
    readonly fail: Fail,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start
  }

  get done(): boolean {
    return this.pos >= this.end
  }

  /** Tag of the next element without consuming it, or -1 at the end. */
  peekTag(): number {
    return this.pos < this.end ? this.buf[this.pos] : -1
  }

  /** Reads the next TLV; when `tag` is given it must match. */
  read(tag?: number, what = 'element'): Tlv {
    const headerStart = this.pos
    if (headerStart >= this.end) this.fail(`${what}: missing`)
    const t = this.buf[this.pos++]
    if ((t & 0x1f) === 0x1f) this.fail(`${what}: multi-byte tags are not supported`)
    if (tag !== undefined && t !== tag) this.fail(`${what}: expected tag 0x${tag.toString(16)}, got 0x${t.toString(16)}`)
    if (this.pos >= this.end) this.fail(`${what}: truncated length`)
    let len = this.buf[this.pos++]
    if (len === 0x80) this.fail(`${what}: indefinite length is not DER`)
    if (len > 0x80) {
      const n = len & 0x7f
      if (n > 3) this.fail(`${what}: length of ${n} octets is too large`)
      if (this.pos + n > this.end) this.fail(`${what}: truncated length`)
      if (this.buf[this.pos] === 0) this.fail(`${what}: non-minimal length`)
      len = 0
      for (let i = 0; i < n; i++) len = len * 256 + this.buf[this.pos++]
      if (len < 0x80) this.fail(`${what}: non-minimal length`)
    }
    const start = this.pos
    if (len > this.end - start) this.fail(`${what}: length ${len} runs past the end`)
    this.pos = start + len
    return { tag: t, headerStart, start, end: start + len }
  }

  /** Reads the next TLV if its tag is `tag`, else returns undefined. */
  optional(tag: number, what?: string): Tlv | undefined {
    return this.peekTag() === tag ? this.read(tag, what) : undefined
  }

  /** A reader over the contents of a constructed element. */
  inner(tlv: Tlv): DerReader {
    return new DerReader(this.buf, this.fail, tlv.start, tlv.end)
  }

  /** Fails unless every byte was consumed. */
  finish(what: string): void {
    if (this.pos !== this.end) this.fail(`${what}: ${this.end - this.pos} unexpected trailing bytes`)
  }

  bytes(tlv: Tlv): Uint8Array {
    return this.buf.subarray(tlv.start, tlv.end)
  }

  /** The full encoding (header included) of `tlv`. */
  raw(tlv: Tlv): Uint8Array {
    return this.buf.subarray(tlv.headerStart, tlv.end)
  }

  /** DER BOOLEAN: one octet, 0x00 or 0xff. */
  boolean(tlv: Tlv, what: string): boolean {
    if (tlv.end - tlv.start !== 1) this.fail(`${what}: BOOLEAN must be one octet`)
    const v = this.buf[tlv.start]
    if (v !== 0 && v !== 0xff) this.fail(`${what}: BOOLEAN must be 0x00 or 0xff`)
    return v === 0xff
  }

  /** A minimally encoded INTEGER as its two's-complement content bytes. */
  integerBytes(tlv: Tlv, what: string): Uint8Array {
    const b = this.bytes(tlv)
    if (b.length === 0) this.fail(`${what}: empty INTEGER`)
    if (b.length > 1 && ((b[0] === 0 && (b[1] & 0x80) === 0) || (b[0] === 0xff && (b[1] & 0x80) !== 0))) {
      this.fail(`${what}: non-minimal INTEGER`)
    }
    return b
  }

  /** A small non-negative INTEGER (fits in 31 bits). */
  smallUint(tlv: Tlv, what: string): number {
    const b = this.integerBytes(tlv, what)
    if (b[0] & 0x80) this.fail(`${what}: negative INTEGER`)
    if (b.length > 4 || (b.length === 4 && b[0] !== 0)) this.fail(`${what}: INTEGER too large`)
    let v = 0
    for (const x of b) v = v * 256 + x
    return v
  }

  /** BIT STRING contents: unused-bit count and the bits; unused bits must be zero. */
  bitString(tlv: Tlv, what: string): { unused: number; bits: Uint8Array } {
    const b = this.bytes(tlv)
    if (b.length === 0) this.fail(`${what}: empty BIT STRING`)
    const unused = b[0]
    if (unused > 7 || (b.length === 1 && unused !== 0)) this.fail(`${what}: bad unused-bit count`)
    if (unused > 0 && (b[b.length - 1] & ((1 << unused) - 1)) !== 0) this.fail(`${what}: unused bits are not zero`)
    return { unused, bits: b.subarray(1) }
  }
}

/** Dotted form of an OBJECT IDENTIFIER's content bytes (strict: minimal base-128 arcs). */
export function oidToString(b: Uint8Array, fail: Fail): string {
  if (b.length === 0 || b.length > 64) fail('bad OBJECT IDENTIFIER length')
  const arcs: number[] = []
  let v = 0
  let fresh = true
  for (const x of b) {
    if (fresh && x === 0x80) fail('non-minimal OBJECT IDENTIFIER arc')
    fresh = false
    v = v * 128 + (x & 0x7f)
    if (v > 0xffffffff) fail('OBJECT IDENTIFIER arc too large')
    if ((x & 0x80) === 0) {
      arcs.push(v)
      v = 0
      fresh = true
    }
  }
  if (!fresh) fail('truncated OBJECT IDENTIFIER')
  const first = arcs[0]
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80]
  return [...head, ...arcs.slice(1)].join('.')
}
