import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  CborError,
  CborIndefiniteMap,
  CborTag,
  decodeCbor,
  decodeCborPrefix,
  encodeCbor,
  wasIndefinite,
  type CborValue,
} from '../../common/cbor.js'
import { readFileSync, readdirSync } from 'node:fs'

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'))

function code(f: () => unknown): string {
  try {
    f()
  } catch (e) {
    if (e instanceof CborError) return e.code
    throw e
  }
  return 'NO ERROR'
}

describe('decodeCbor: RFC 8949 Appendix A vectors', () => {
  const vectors: [string, CborValue][] = [
    ['00', 0],
    ['17', 23],
    ['1818', 24],
    ['1903e8', 1000],
    ['1a000f4240', 1000000],
    ['1b000000e8d4a51000', 1000000000000],
    ['1bffffffffffffffff', 18446744073709551615n],
    ['20', -1],
    ['3863', -100],
    ['3bffffffffffffffff', -18446744073709551616n],
    ['40', new Uint8Array()],
    ['4401020304', hex('01020304')],
    ['60', ''],
    ['6449455446', 'IETF'],
    ['62c3bc', '\u00fc'],
    ['f4', false],
    ['f5', true],
    ['f6', null],
    ['f7', undefined],
    ['83010203', [1, 2, 3]],
    ['8301820203820405', [1, [2, 3], [4, 5]]],
    ['5f42010243030405ff', hex('0102030405')],
    ['7f657374726561646d696e67ff', 'streaming'],
    ['9fff', []],
  ]
  for (const [h, v] of vectors) {
    it(`decodes ${h}`, () => {
      expect(decodeCbor(hex(h))).toEqual(v)
    })
  }

  it('decodes definite and indefinite maps alike, recording indefiniteness', () => {
    const def = decodeCbor(hex('a201020304')) as Map<number, number>
    const ind = decodeCbor(hex('bf01020304ff')) as Map<number, number>
    expect([...def]).toEqual([[1, 2], [3, 4]])
    expect([...ind]).toEqual([[1, 2], [3, 4]])
    expect(wasIndefinite(def)).toBe(false)
    expect(wasIndefinite(ind)).toBe(true)
  })

  it('keeps map insertion order as received', () => {
    const m = decodeCbor(hex('a2616202616101')) as Map<string, number>
    expect([...m.keys()]).toEqual(['b', 'a'])
  })

  it('decodes tags', () => {
    const t = decodeCbor(hex('d28440a0f6f6')) as CborTag
    expect(t).toBeInstanceOf(CborTag)
    expect(t.tag).toBe(18)
    expect(t.value).toEqual([new Uint8Array(), new Map(), null, null])
  })

  it('decodes every real attestation fixture (all but the corrupt one) without trailing bytes', () => {
    const dir = 'test/fixtures/attestation'
    const files = readdirSync(dir).filter((n) => n.endsWith('.cbor'))
    expect(files.length).toBeGreaterThanOrEqual(13)
    for (const f of files) {
      const bytes = readFileSync(`${dir}/${f}`)
      if (f.startsWith('INVALID-base-corrupt')) {
        // 3 bytes are missing inside the payload, so the payload bstr swallows the signature head
        expect(code(() => decodeCbor(bytes))).toMatch(/^ERR_CBOR_/)
        continue
      }
      const doc = decodeCbor(bytes) as CborValue[]
      expect(doc).toHaveLength(4)
      const m = decodeCbor(doc[2] as Uint8Array) as Map<string, CborValue>
      expect(m.get('digest')).toBe('SHA384')
    }
  })
})

describe('decodeCbor: rejections with codes', () => {
  const cases: [string, string, string][] = [
    ['empty input', '', 'ERR_CBOR_MALFORMED'],
    ['truncated uint16', '19 03', 'ERR_CBOR_MALFORMED'],
    ['bstr longer than input', '45 0102', 'ERR_CBOR_MALFORMED'],
    ['array count beyond input', '9a 7fffffff 00', 'ERR_CBOR_MALFORMED'],
    ['64-bit length', '5b 0000000100000000', 'ERR_CBOR_MALFORMED'],
    ['reserved ai 28', '1c', 'ERR_CBOR_MALFORMED'],
    ['reserved simple encoding', 'fc', 'ERR_CBOR_MALFORMED'],
    ['stray break', 'ff', 'ERR_CBOR_MALFORMED'],
    ['break inside definite array', '82 01 ff', 'ERR_CBOR_MALFORMED'],
    ['unterminated indefinite map', 'bf 01 02', 'ERR_CBOR_MALFORMED'],
    ['indefinite map with key but no value', 'bf 01 ff', 'ERR_CBOR_MALFORMED'],
    ['indefinite bstr with a text chunk', '5f 6161 ff', 'ERR_CBOR_MALFORMED'],
    ['nested indefinite chunk', '5f 5f ff ff', 'ERR_CBOR_MALFORMED'],
    ['indefinite tag', 'df 00', 'ERR_CBOR_MALFORMED'],
    ['invalid utf-8', '62 c328', 'ERR_CBOR_MALFORMED'],
    ['a UTF-8 character split across text chunks (RFC 8949 §3.2.3)', '7f 61c3 61bc ff', 'ERR_CBOR_MALFORMED'],
    ['duplicate int key', 'a2 01 02 01 03', 'ERR_CBOR_DUPLICATE_KEY'],
    ['duplicate text key in indefinite map', 'bf 6161 01 6161 02 ff', 'ERR_CBOR_DUPLICATE_KEY'],
    ['duplicate key via non-minimal width', 'a2 01 00 1b0000000000000001 00', 'ERR_CBOR_DUPLICATE_KEY'],
    ['bstr map key', 'a1 4101 00', 'ERR_CBOR_UNSUPPORTED'],
    ['array map key', 'a1 80 00', 'ERR_CBOR_UNSUPPORTED'],
    ['float without allowFloats', 'f9 3c00', 'ERR_CBOR_UNSUPPORTED'],
    ['unassigned simple', 'f0', 'ERR_CBOR_UNSUPPORTED'],
    ['trailing byte', '01 00', 'ERR_CBOR_TRAILING_BYTES'],
  ]
  for (const [name, h, c] of cases) {
    it(name, () => {
      expect(code(() => decodeCbor(hex(h)))).toBe(c)
    })
  }

  it('rejects nesting deeper than maxDepth', () => {
    expect(code(() => decodeCbor(hex('81'.repeat(17) + '00')))).toBe('ERR_CBOR_TOO_DEEP')
    expect(decodeCbor(hex('81'.repeat(16) + '00'))).toBeDefined()
    expect(code(() => decodeCbor(hex('d818'.repeat(3) + '00'), { maxDepth: 2 }))).toBe('ERR_CBOR_TOO_DEEP')
  })

  it('refuses options that would switch a bound off (explicit undefined keeps the default)', () => {
    const deep = new Uint8Array(20_000).fill(0x81)
    expect(code(() => decodeCbor(deep, { maxDepth: undefined }))).toBe('ERR_CBOR_TOO_DEEP')
    for (const o of [{ maxDepth: NaN }, { maxDepth: Infinity }, { maxDepth: 100_000 }, { maxDepth: 0 }, { maxItems: NaN }, { maxBytes: -1 }, { maxItems: 1.5 }]) {
      expect(() => decodeCbor(deep, o)).toThrow(TypeError)
    }
    // the ceiling itself is safe: a typed error, not a stack overflow
    expect(code(() => decodeCbor(deep, { maxDepth: 256 }))).toBe('ERR_CBOR_TOO_DEEP')
    expect(code(() => decodeCborPrefix(deep, 0, { maxDepth: 256 }))).toBe('ERR_CBOR_TOO_DEEP')
  })

  it('rejects more than maxItems items and inputs over maxBytes', () => {
    expect(code(() => decodeCbor(hex('83010203'), { maxItems: 3 }))).toBe('ERR_CBOR_TOO_LARGE')
    expect(decodeCbor(hex('83010203'), { maxItems: 4 })).toEqual([1, 2, 3])
    expect(code(() => decodeCbor(new Uint8Array(11), { maxBytes: 10 }))).toBe('ERR_CBOR_TOO_LARGE')
  })

  it('does not allocate for a huge declared length (deep recursion of 100k arrays is bounded too)', () => {
    expect(code(() => decodeCbor(hex('9b 00ffffffffffffff')))).toBe('ERR_CBOR_MALFORMED')
    expect(code(() => decodeCbor(new Uint8Array(100_000).fill(0x81)))).toBe('ERR_CBOR_TOO_DEEP')
    expect(code(() => decodeCbor(new Uint8Array(100_000).fill(0x9f)))).toBe('ERR_CBOR_TOO_DEEP')
  })

  it('reports the offset of the problem', () => {
    // (a catch-only assertion passed when nothing was thrown)
    expect(() => decodeCbor(hex('82 01 1c'))).toThrow(expect.objectContaining({ code: 'ERR_CBOR_MALFORMED', offset: 2 }))
    expect(() => decodeCbor(hex('a2 01 02 01 03'))).toThrow(expect.objectContaining({ code: 'ERR_CBOR_DUPLICATE_KEY', offset: 3 }))
  })

  it('decodeCborPrefix returns the end offset and leaves the rest', () => {
    expect(decodeCborPrefix(hex('8201 02 ff'), 0)).toEqual({ value: [1, 2], end: 3 })
  })

  it('floats when allowed', () => {
    expect(decodeCbor(hex('f93c00'), { allowFloats: true })).toBe(1)
    expect(decodeCbor(hex('fb3ff199999999999a'), { allowFloats: true })).toBe(1.1)
  })
})

describe('encodeCbor', () => {
  it('uses the shortest heads', () => {
    expect(Buffer.from(encodeCbor(23)).toString('hex')).toBe('17')
    expect(Buffer.from(encodeCbor(24)).toString('hex')).toBe('1818')
    expect(Buffer.from(encodeCbor(-35)).toString('hex')).toBe('3822')
    expect(Buffer.from(encodeCbor(65536)).toString('hex')).toBe('1a00010000')
    expect(Buffer.from(encodeCbor(2 ** 32)).toString('hex')).toBe('1b0000000100000000')
    expect(Buffer.from(encodeCbor(18446744073709551615n)).toString('hex')).toBe('1bffffffffffffffff')
  })

  it('writes the ES384 protected header as real documents carry it', () => {
    expect(Buffer.from(encodeCbor(new Map([[1, -35]]))).toString('hex')).toBe('a1013822')
  })

  it('writes an indefinite map in insertion order', () => {
    const m = new CborIndefiniteMap([
      ['b', 1],
      ['a', null],
    ])
    expect(Buffer.from(encodeCbor(m)).toString('hex')).toBe('bf616201616 1f6ff'.replace(/ /g, ''))
  })

  it('rejects non-integers', () => {
    expect(() => encodeCbor(1.5)).toThrow(RangeError)
  })
})

describe('properties', () => {
  const value = fc.letrec<{ v: CborValue }>((tie) => ({
    v: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.integer(),
      fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n }).map((b) =>
        b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b,
      ),
      fc.string(),
      fc.uint8Array({ maxLength: 64 }),
      fc.constantFrom(true, false, null, undefined),
      fc.array(tie('v'), { maxLength: 4 }),
      fc.uniqueArray(fc.tuple(fc.oneof(fc.integer(), fc.string()), tie('v')), { maxLength: 4, selector: (e) => e[0] }).map(
        (es) => new Map(es),
      ),
    ),
  })).v

  it('decode(encode(v)) == v', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(decodeCbor(encodeCbor(v as never), { maxDepth: 64 })).toEqual(v)
      }),
      { numRuns: 500 },
    )
  })

  it('any bytes give a value or a CborError, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (b) => {
        try {
          decodeCbor(b)
        } catch (e) {
          expect(e).toBeInstanceOf(CborError)
        }
      }),
      { numRuns: 5000 },
    )
  })

  it('mutations of a real document give a value or a CborError', () => {
    const doc = readFileSync('test/fixtures/attestation/fastcrypto-pcr16-indef-2025-11-10.cbor')
    const payload = (decodeCbor(doc) as Uint8Array[])[2]
    fc.assert(
      fc.property(fc.nat(payload.length - 1), fc.nat(255), fc.nat(payload.length), (i, b, cut) => {
        const m = Uint8Array.from(payload)
        m[i] = b
        for (const input of [m, m.subarray(0, cut)]) {
          try {
            decodeCbor(input)
          } catch (e) {
            expect(e).toBeInstanceOf(CborError)
          }
        }
      }),
      { numRuns: 3000 },
    )
  })
})
