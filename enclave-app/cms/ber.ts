/**
 * A small, strict BER reader (X.690) for CMS envelopes. KMS emits BER, not DER: indefinite lengths
 * at the outer levels and a chunked (constructed) encryptedContent, so a DER-only parser rejects
 * real KMS output. "Strict" here means: bounded input size, depth and element count; low-tag-number
 * form only; minimal long-form lengths (BER allows padding, KMS never sends it); indefinite length
 * only on constructed elements; definite constructed content exactly filled by its children;
 * no trailing bytes. Every rejection is a typed {@link CmsError}.
 * @module
 */
import { CmsMalformed, CmsTooLarge } from './errors.js'

/** Tag classes (X.690 §8.1.2.2). */
export const CLASS_UNIVERSAL = 0
export const CLASS_CONTEXT = 2

/** One parsed element. Primitive elements carry `content`; constructed ones `children`. */
export interface BerNode {
  cls: number
  constructed: boolean
  tag: number
  /** True when the element used the indefinite length form (`0x80`, closed by an EOC). */
  indefinite: boolean
  /** Offsets of the whole element (header to last byte, EOC included) in the input. */
  start: number
  end: number
  /** Primitive contents (a view into the input, not a copy). */
  content?: Uint8Array
  children?: BerNode[]
}

export interface BerLimits {
  /** Largest accepted input, bytes. */
  maxBytes: number
  /** Deepest nesting accepted (the KMS envelope is 11 levels deep). */
  maxDepth: number
  /** Most elements accepted in total (bounds work on chunked content). */
  maxNodes: number
}

export const DEFAULT_BER_LIMITS: BerLimits = { maxBytes: 64 * 1024, maxDepth: 16, maxNodes: 4096 }

/**
 * Parses exactly one BER element covering all of `bytes`.
 * @throws {CmsMalformed} not BER, or trailing bytes
 * @throws {CmsTooLarge} beyond `limits`
 */
export function parseBer(bytes: Uint8Array, limits: BerLimits = DEFAULT_BER_LIMITS): BerNode {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('"bytes" must be a Uint8Array')
  if (bytes.length > limits.maxBytes) throw new CmsTooLarge(`${bytes.length} bytes, limit ${limits.maxBytes}`)
  const state = { nodes: 0 }
  const node = readElement(bytes, 0, bytes.length, 0, limits, state)
  if (node === 'eoc') throw new CmsMalformed('end-of-contents where an element was expected')
  if (node.end !== bytes.length) throw new CmsMalformed(`${bytes.length - node.end} trailing bytes`)
  return node
}

function readElement(
  b: Uint8Array,
  off: number,
  limit: number,
  depth: number,
  limits: BerLimits,
  state: { nodes: number },
): BerNode | 'eoc' {
  if (depth > limits.maxDepth) throw new CmsTooLarge(`nesting deeper than ${limits.maxDepth}`)
  if (++state.nodes > limits.maxNodes) throw new CmsTooLarge(`more than ${limits.maxNodes} elements`)
  const start = off
  if (off >= limit) throw new CmsMalformed(`truncated at offset ${off}`)
  const id = b[off++]
  const cls = id >> 6
  const constructed = (id & 0x20) !== 0
  const tag = id & 0x1f
  if (tag === 0x1f) throw new CmsMalformed(`high tag number form at offset ${start}`)
  if (off >= limit) throw new CmsMalformed(`truncated length at offset ${off}`)
  const first = b[off++]
  if (id === 0x00) {
    // End-of-contents: exactly 00 00 (X.690 §8.1.5).
    if (first !== 0x00) throw new CmsMalformed(`bad end-of-contents at offset ${start}`)
    return 'eoc'
  }
  if (cls === CLASS_UNIVERSAL && tag === 0) throw new CmsMalformed(`universal tag 0 at offset ${start}`)

  if (first === 0x80) {
    // Indefinite length: constructed only (X.690 §8.1.3.2), children until EOC.
    if (!constructed) throw new CmsMalformed(`indefinite length on a primitive element at offset ${start}`)
    const children: BerNode[] = []
    for (;;) {
      const child = readElement(b, off, limit, depth + 1, limits, state)
      if (child === 'eoc') {
        off += 2
        break
      }
      children.push(child)
      off = child.end
    }
    return { cls, constructed, tag, indefinite: true, start, end: off, children }
  }

  let len: number
  if (first < 0x80) {
    len = first
  } else {
    const n = first & 0x7f
    if (n === 0x7f) throw new CmsMalformed(`reserved length octet at offset ${off - 1}`)
    if (n > 4) throw new CmsTooLarge(`length of ${n} octets at offset ${off - 1}`)
    if (off + n > limit) throw new CmsMalformed(`truncated length at offset ${off}`)
    if (b[off] === 0) throw new CmsMalformed(`non-minimal length at offset ${off - 1}`)
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + b[off++]
    if (len < 0x80) throw new CmsMalformed(`non-minimal length at offset ${start + 1}`)
  }
  const contentStart = off
  const contentEnd = off + len
  if (contentEnd > limit) throw new CmsMalformed(`element at offset ${start} overruns its container`)
  if (!constructed) {
    return { cls, constructed, tag, indefinite: false, start, end: contentEnd, content: b.subarray(contentStart, contentEnd) }
  }
  const children: BerNode[] = []
  while (off < contentEnd) {
    const child = readElement(b, off, contentEnd, depth + 1, limits, state)
    if (child === 'eoc') throw new CmsMalformed(`end-of-contents inside a definite-length element at offset ${off}`)
    children.push(child)
    off = child.end
  }
  return { cls, constructed, tag, indefinite: false, start, end: contentEnd, children }
}

/** Encodes an OBJECT IDENTIFIER's contents octets from dotted form (for comparisons). */
export function oidBytes(dotted: string): Buffer {
  const arcs = dotted.split('.').map((s) => BigInt(s))
  const out: number[] = []
  const push = (v: bigint): void => {
    const tmp: number[] = [Number(v & 0x7fn)]
    v >>= 7n
    while (v > 0n) {
      tmp.unshift(Number(v & 0x7fn) | 0x80)
      v >>= 7n
    }
    out.push(...tmp)
  }
  push(arcs[0] * 40n + arcs[1])
  for (const a of arcs.slice(2)) push(a)
  return Buffer.from(out)
}
