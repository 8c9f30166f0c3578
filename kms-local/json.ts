/**
 * Strict JSON (RFC 8259) for request bodies and key policies. `JSON.parse` silently keeps the last
 * of duplicate keys, so a policy or request could mean two things to two readers; this parser
 * rejects duplicates, bounds depth, accepts only what RFC 8259 allows (no trailing commas, no
 * comments, no lone surrogates via escapes, UTF-8 only) and returns objects without prototypes.
 * @module
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject
export interface JsonObject {
  [key: string]: JsonValue
}

/** Parse failure; `message` says where. The caller maps it to its own error type. */
export class JsonSyntaxError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'JsonSyntaxError'
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Parses UTF-8 bytes or a string; throws JsonSyntaxError. */
export function parseStrictJson(input: Uint8Array | string, maxDepth = 32): JsonValue {
  let text: string
  if (typeof input === 'string') text = input
  else {
    try {
      text = utf8.decode(input)
    } catch {
      throw new JsonSyntaxError('body is not valid UTF-8')
    }
  }
  const p = new Parser(text, maxDepth)
  p.ws()
  const v = p.value(0)
  p.ws()
  if (p.i !== text.length) p.fail('unexpected data after the JSON value')
  return v
}

class Parser {
  i = 0
  constructor(
    readonly s: string,
    readonly maxDepth: number,
  ) {}

  fail(msg: string): never {
    throw new JsonSyntaxError(`${msg} at position ${this.i}`)
  }

  ws(): void {
    const s = this.s
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i)
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++
      else break
    }
  }

  value(depth: number): JsonValue {
    if (depth > this.maxDepth) this.fail('nesting too deep')
    const c = this.s[this.i]
    switch (c) {
      case '{':
        return this.object(depth)
      case '[':
        return this.array(depth)
      case '"':
        return this.string()
      case 't':
        return this.literal('true', true)
      case 'f':
        return this.literal('false', false)
      case 'n':
        return this.literal('null', null)
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number()
        return this.fail(c === undefined ? 'unexpected end of input' : 'unexpected character')
    }
  }

  literal<T>(word: string, v: T): T {
    if (this.s.startsWith(word, this.i)) {
      this.i += word.length
      return v
    }
    return this.fail('invalid literal')
  }

  number(): number {
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(this.s.slice(this.i, this.i + 400))
    if (m === null) this.fail('invalid number')
    this.i += m[0].length
    const n = Number(m[0])
    if (!Number.isFinite(n)) this.fail('number out of range')
    return n
  }

  string(): string {
    const s = this.s
    this.i++ // opening quote
    let out = ''
    let start = this.i
    for (;;) {
      if (this.i >= s.length) this.fail('unterminated string')
      const c = s.charCodeAt(this.i)
      if (c === 0x22) {
        out += s.slice(start, this.i)
        this.i++
        return out
      }
      if (c < 0x20) this.fail('control character in string')
      if (c === 0x5c) {
        out += s.slice(start, this.i)
        const e = s[this.i + 1]
        this.i += 2
        switch (e) {
          case '"': out += '"'; break
          case '\\': out += '\\'; break
          case '/': out += '/'; break
          case 'b': out += '\b'; break
          case 'f': out += '\f'; break
          case 'n': out += '\n'; break
          case 'r': out += '\r'; break
          case 't': out += '\t'; break
          case 'u': {
            const cu = this.hex4()
            if (cu >= 0xd800 && cu <= 0xdbff) {
              // A high surrogate must be followed by an escaped low surrogate.
              if (s[this.i] !== '\\' || s[this.i + 1] !== 'u') this.fail('lone surrogate')
              this.i += 2
              const lo = this.hex4()
              if (lo < 0xdc00 || lo > 0xdfff) this.fail('lone surrogate')
              out += String.fromCharCode(cu, lo)
              break
            }
            if (cu >= 0xdc00 && cu <= 0xdfff) this.fail('lone surrogate')
            out += String.fromCharCode(cu)
            break
          }
          default:
            this.i -= 1
            this.fail('invalid escape')
        }
        start = this.i
        continue
      }
      this.i++
    }
  }

  hex4(): number {
    const h = this.s.slice(this.i, this.i + 4)
    if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail('invalid \\u escape')
    this.i += 4
    return parseInt(h, 16)
  }

  array(depth: number): JsonValue[] {
    this.i++
    const out: JsonValue[] = []
    this.ws()
    if (this.s[this.i] === ']') {
      this.i++
      return out
    }
    for (;;) {
      this.ws()
      out.push(this.value(depth + 1))
      this.ws()
      const c = this.s[this.i++]
      if (c === ']') return out
      if (c !== ',') {
        this.i--
        this.fail("expected ',' or ']'")
      }
    }
  }

  object(depth: number): JsonObject {
    this.i++
    const out = Object.create(null) as JsonObject
    this.ws()
    if (this.s[this.i] === '}') {
      this.i++
      return out
    }
    for (;;) {
      this.ws()
      if (this.s[this.i] !== '"') this.fail('expected a member name')
      const key = this.string()
      if (Object.hasOwn(out, key)) this.fail(`duplicate member '${key.slice(0, 64)}'`)
      this.ws()
      if (this.s[this.i] !== ':') this.fail("expected ':'")
      this.i++
      this.ws()
      out[key] = this.value(depth + 1)
      this.ws()
      const c = this.s[this.i++]
      if (c === '}') return out
      if (c !== ',') {
        this.i--
        this.fail("expected ',' or '}'")
      }
    }
  }
}

/** True for a parsed JSON object (not an array, not null). */
export function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
