// NSM protocol codec: golden bytes (the reference's hex examples, encoded from serde_cbor's
// rules and, for GetRandom, matching the kernel driver's hand-written bytes), strict decoding,
// and property tests on the response decoder.
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { Encoder } from 'cbor-x'
import { decodeRequest, encodeRequest, type NsmRequest } from '../../nsm/codec/request.js'
import { decodeResponse, encodeResponse, type NsmResponse } from '../../nsm/codec/response.js'
import { NsmError, NSM_ERROR_NAMES } from '../../nsm/errors.js'

// cbor-x as an independent encoder: plain maps (no tag 259), plain byte strings (no tag 64)
const cborx = new Encoder({ useRecords: false, useTag259ForMaps: false, tagUint8Array: false } as ConstructorParameters<typeof Encoder>[0])
const cborxEncode = (v: unknown): Uint8Array => cborx.encode(v)
const h = (s: string): Buffer => Buffer.from(s, 'hex')
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('requests: golden bytes', () => {
  const GOLDEN: [NsmRequest, string][] = [
    [{ type: 'DescribeNSM' }, '6b44657363726962654e534d'],
    [{ type: 'GetRandom' }, '6947657452616e646f6d'],
    [{ type: 'DescribePCR', index: 0 }, 'a16b4465736372696265504352a165696e64657800'],
    [{ type: 'ExtendPCR', index: 16, data: Buffer.from('ab') }, 'a169457874656e64504352a265696e646578106464617461426162'],
    [{ type: 'LockPCR', index: 16 }, 'a1674c6f636b504352a165696e64657810'],
    [{ type: 'LockPCRs', range: 16 }, 'a1684c6f636b50435273a16572616e676510'],
    [
      { type: 'Attestation', userData: null, nonce: h('0102'), publicKey: null },
      'a16b4174746573746174696f6ea369757365725f64617461f6656e6f6e63654201026a7075626c69635f6b6579f6',
    ],
  ]
  test.each(GOLDEN)('%j', (req, expected) => {
    expect(hex(encodeRequest(req))).toBe(expected)
    expect(decodeRequest(h(expected))).toEqual(req)
  })

  test('wider integers use the shortest form; index beyond u8 still encodes (the NSM answers InvalidIndex)', () => {
    expect(hex(encodeRequest({ type: 'DescribePCR', index: 300 }))).toBe('a16b4465736372696265504352a165696e64657819012c')
    expect(hex(encodeRequest({ type: 'DescribePCR', index: 23 }))).toBe('a16b4465736372696265504352a165696e64657817')
    expect(hex(encodeRequest({ type: 'DescribePCR', index: 24 }))).toBe('a16b4465736372696265504352a165696e6465781818')
  })

  test('all three attestation fields present: byte strings (major type 2), declaration order', () => {
    const b = encodeRequest({ type: 'Attestation', userData: h('aa'), nonce: h('bb'), publicKey: h('cc') })
    expect(hex(b)).toBe('a16b4174746573746174696f6ea369757365725f6461746141aa656e6f6e636541bb6a7075626c69635f6b657941cc')
    // cross-check with cbor-x as an independent encoder of the same serde shape
    const same = new Map([['Attestation', new Map([['user_data', h('aa')], ['nonce', h('bb')], ['public_key', h('cc')]])]])
    expect(hex(cborxEncode(same))).toBe(hex(b))
  })

  test('requests over 4096 bytes are refused before anything is sent (InputTooLarge)', () => {
    expect(() => encodeRequest({ type: 'ExtendPCR', index: 16, data: Buffer.alloc(4096) })).toThrow(
      expect.objectContaining({ code: 'ERR_NSM_INPUT_TOO_LARGE', nsmCode: 'InputTooLarge' }),
    )
    // 4096 exactly is allowed: a1, 69 'ExtendPCR', a2, 65 'index', 10, 64 'data', 59 xxxx = 27 bytes of header
    expect(encodeRequest({ type: 'ExtendPCR', index: 16, data: Buffer.alloc(4096 - 27) }).length).toBe(4096)
    expect(() => encodeRequest({ type: 'ExtendPCR', index: 16, data: Buffer.alloc(4096 - 26) })).toThrow(expect.objectContaining({ nsmCode: 'InputTooLarge' }))
  })

  test('index outside u16 is InvalidIndex; a non-integer is a TypeError', () => {
    expect(() => encodeRequest({ type: 'LockPCR', index: 65536 })).toThrow(expect.objectContaining({ nsmCode: 'InvalidIndex' }))
    expect(() => encodeRequest({ type: 'LockPCR', index: -1 })).toThrow(expect.objectContaining({ nsmCode: 'InvalidIndex' }))
    expect(() => encodeRequest({ type: 'LockPCR', index: 1.5 })).toThrow(TypeError)
  })

  test('server-side decoding is strict: malformed requests are InvalidOperation', () => {
    const bad = [
      '', // empty
      '6b44657363726962654e534d00', // trailing byte
      '6a4465736372696265', // unknown unit variant
      'a16b4465736372696265504352a165696e6465784100', // index as bytes
      'a16b4465736372696265504352a265696e6465780065696e64657801', // duplicate key
      'a16b4465736372696265504352a265696e646578006378797a01', // unknown field
      'a169457874656e64504352a265696e646578106464617461626162', // data as text
      'a16b4465736372696265504352a0', // missing index
      'a26b4465736372696265504352a165696e646578006947657452616e646f6d00', // two variants
      '83010203',
    ]
    for (const b of bad) expect(() => decodeRequest(h(b)), b).toThrow(expect.objectContaining({ nsmCode: 'InvalidOperation' }))
    expect(() => decodeRequest(Buffer.alloc(4097))).toThrow(expect.objectContaining({ nsmCode: 'InputTooLarge' }))
  })

  test('Attestation with fields omitted reads them as null (serde Option)', () => {
    expect(decodeRequest(h('a16b4174746573746174696f6ea0'))).toEqual({ type: 'Attestation', userData: null, nonce: null, publicKey: null })
  })
})

describe('responses: golden bytes', () => {
  const pcr = Buffer.alloc(48, 0x11)
  const GOLDEN: [NsmResponse, string][] = [
    [{ type: 'LockPCR' }, '674c6f636b504352'],
    [{ type: 'LockPCRs' }, '684c6f636b50435273'],
    [{ type: 'Error', error: 'InvalidIndex' }, 'a1654572726f726c496e76616c6964496e646578'],
    [{ type: 'Error', error: 'ReadOnlyIndex' }, 'a1654572726f726d526561644f6e6c79496e646578'],
    [{ type: 'ExtendPCR', data: pcr }, `a169457874656e64504352a1646461746158301${'1'.repeat(95)}`],
    [{ type: 'DescribePCR', lock: true, data: pcr }, `a16b4465736372696265504352a2646c6f636bf56464617461583011${'11'.repeat(47)}`],
    [{ type: 'GetRandom', random: h('0102') }, 'a16947657452616e646f6da16672616e646f6d420102'],
    [{ type: 'Attestation', document: h('84') }, 'a16b4174746573746174696f6ea168646f63756d656e744184'],
  ]
  test.each(GOLDEN)('%j', (res, expected) => {
    expect(hex(encodeResponse(res))).toBe(expected)
    expect(decodeResponse(h(expected))).toEqual(res)
  })

  test('DescribeNSM: fields in declaration order, locked_pcrs ascending', () => {
    const res: NsmResponse = {
      type: 'DescribeNSM',
      versionMajor: 1,
      versionMinor: 0,
      versionPatch: 0,
      moduleId: 'i-1234-enc5678',
      maxPcrs: 32,
      lockedPcrs: [0, 1, 2],
      digest: 'SHA384',
    }
    const b = encodeResponse(res)
    const expected = new Map([
      [
        'DescribeNSM',
        new Map<string, unknown>([
          ['version_major', 1],
          ['version_minor', 0],
          ['version_patch', 0],
          ['module_id', 'i-1234-enc5678'],
          ['max_pcrs', 32],
          ['locked_pcrs', [0, 1, 2]],
          ['digest', 'SHA384'],
        ]),
      ],
    ])
    expect(hex(b)).toBe(hex(cborxEncode(expected)))
    expect(decodeResponse(b)).toEqual(res)
  })

  test('QEMU field order (digest first) decodes the same: order is not part of the contract for readers', () => {
    const qemu = new Map([
      [
        'DescribeNSM',
        new Map<string, unknown>([
          ['digest', 'SHA384'],
          ['max_pcrs', 32],
          ['module_id', 'i-1234-enc5678'],
          ['locked_pcrs', []],
          ['version_major', 1],
          ['version_minor', 0],
          ['version_patch', 0],
        ]),
      ],
    ])
    expect(decodeResponse(cborxEncode(qemu))).toMatchObject({ type: 'DescribeNSM', moduleId: 'i-1234-enc5678', lockedPcrs: [] })
  })

  test('every NSM error name decodes; each maps to a typed error', () => {
    for (const name of NSM_ERROR_NAMES) {
      const b = cborxEncode(new Map([['Error', name]]))
      expect(decodeResponse(b)).toEqual({ type: 'Error', error: name })
    }
  })
})

describe('responses: hostile bytes are typed protocol errors', () => {
  const cases: [string, string][] = [
    ['empty', ''],
    ['truncated', 'a169457874656e64504352a16464617461583011'],
    ['trailing', '674c6f636b50435200'],
    ['unknown unit', '6455736572'],
    ['unknown error name', 'a1654572726f72644e6f7065'],
    ['error as int', 'a1654572726f7201'],
    ['pcr of 47 bytes', `a169457874656e64504352a16464617461582f${'11'.repeat(47)}`],
    ['data as text', 'a169457874656e64504352a164646174616161'],
    ['extra field', `a169457874656e64504352a2646461746158301${'1'.repeat(95)}6178f6`],
    ['duplicate key', `a169457874656e64504352a2646461746141006464617461${'41'}00`],
    ['lock not bool', `a16b4465736372696265504352a2646c6f636b016464617461583011${'11'.repeat(47)}`],
    ['empty document', 'a16b4174746573746174696f6ea168646f63756d656e7440'],
    ['two variants', 'a2674c6f636b504352f6684c6f636b50435273f6'],
    ['array', '80'],
    ['float', 'fb3ff0000000000000'],
    ['deep nesting', '81'.repeat(40) + '00'],
  ]
  test.each(cases)('%s', (_name, bytes) => {
    expect(() => decodeResponse(h(bytes))).toThrow(expect.objectContaining({ code: 'ERR_NSM_PROTOCOL' }))
  })

  test('DescribeNSM bounds: module_id length, locked_pcrs order and count, digest', () => {
    const make = (over: Record<string, unknown>): Uint8Array =>
      cborxEncode(
        new Map([
          [
            'DescribeNSM',
            new Map<string, unknown>(
              Object.entries({
                version_major: 1,
                version_minor: 0,
                version_patch: 0,
                module_id: 'i-1',
                max_pcrs: 32,
                locked_pcrs: [0, 1],
                digest: 'SHA384',
                ...over,
              }),
            ),
          ],
        ]),
      )
    expect(decodeResponse(make({}))).toMatchObject({ type: 'DescribeNSM' })
    for (const over of [
      { module_id: 'x'.repeat(101) },
      { module_id: '' },
      { locked_pcrs: [1, 0] },
      { locked_pcrs: [1, 1] },
      { locked_pcrs: Array.from({ length: 65 }, (_, i) => i) },
      { digest: 'MD5' },
      { max_pcrs: 70000 },
      { version_major: -1 },
    ]) {
      expect(() => decodeResponse(make(over)), JSON.stringify(over).slice(0, 60)).toThrow(expect.objectContaining({ code: 'ERR_NSM_PROTOCOL' }))
    }
  })

  test('over 12288 bytes is refused without decoding', () => {
    expect(() => decodeResponse(Buffer.alloc(12289))).toThrow(expect.objectContaining({ code: 'ERR_NSM_PROTOCOL' }))
  })

  test('fast-check: random bytes never crash the decoder; failures are always NsmError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), (bytes) => {
        try {
          decodeResponse(bytes)
        } catch (e) {
          if (!(e instanceof NsmError)) throw e
        }
      }),
      { numRuns: 3000 },
    )
  })

  test('fast-check: mutations of valid responses decode or fail with ERR_NSM_PROTOCOL, never otherwise', () => {
    const valid = [
      encodeResponse({ type: 'DescribePCR', lock: false, data: Buffer.alloc(48, 3) }),
      encodeResponse({ type: 'DescribeNSM', versionMajor: 1, versionMinor: 0, versionPatch: 0, moduleId: 'i-0abc-enc01', maxPcrs: 32, lockedPcrs: [0, 5, 16], digest: 'SHA384' }),
      encodeResponse({ type: 'Error', error: 'InputTooLarge' }),
      encodeResponse({ type: 'Attestation', document: Buffer.alloc(100, 9) }),
    ]
    fc.assert(
      fc.property(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (base, edits) => {
        const b = Buffer.from(base)
        for (const [pos, val] of edits) b[pos % b.length] = val
        try {
          const r = decodeResponse(b)
          // whatever decodes re-encodes to a well-formed response of the same type
          expect(decodeResponse(encodeResponse(r)).type).toBe(r.type)
        } catch (e) {
          expect(e).toMatchObject({ code: 'ERR_NSM_PROTOCOL' })
        }
      }),
      { numRuns: 2000 },
    )
  })

  test('fast-check: encode/decode round trip of generated responses', () => {
    const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max })
    const res: fc.Arbitrary<NsmResponse> = fc.oneof(
      fc.record({ type: fc.constant('DescribePCR' as const), lock: fc.boolean(), data: fc.constantFrom(32, 48, 64).chain((n) => bytes(n, n)) }),
      fc.record({ type: fc.constant('ExtendPCR' as const), data: bytes(48, 48) }),
      fc.record({ type: fc.constant('GetRandom' as const), random: bytes(1, 300) }),
      fc.record({ type: fc.constant('Attestation' as const), document: bytes(1, 2000) }),
      fc.record({ type: fc.constant('Error' as const), error: fc.constantFrom(...NSM_ERROR_NAMES) }),
      fc.record({
        type: fc.constant('DescribeNSM' as const),
        versionMajor: fc.integer({ min: 0, max: 65535 }),
        versionMinor: fc.integer({ min: 0, max: 65535 }),
        versionPatch: fc.integer({ min: 0, max: 65535 }),
        moduleId: fc.string({ minLength: 1, maxLength: 50 }),
        maxPcrs: fc.integer({ min: 0, max: 65535 }),
        lockedPcrs: fc.uniqueArray(fc.integer({ min: 0, max: 65535 }), { maxLength: 64 }).map((a) => a.sort((x, y) => x - y)),
        digest: fc.constantFrom('SHA256' as const, 'SHA384' as const, 'SHA512' as const),
      }),
    )
    fc.assert(
      fc.property(res, (r) => {
        const back = decodeResponse(encodeResponse(r))
        expect(back).toEqual(r)
        expect(hex(encodeResponse(back))).toBe(hex(encodeResponse(r)))
      }),
      { numRuns: 500 },
    )
  })
})

describe('server-side parsers under fast-check', () => {
  test('decodeRequest: random bytes give a request or the NSM answer InvalidOperation, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          const r = decodeRequest(bytes)
          // whatever decodes re-encodes to the same request
          expect(decodeRequest(encodeRequest(r))).toEqual(r)
        } catch (e) {
          expect(e).toMatchObject({ nsmCode: 'InvalidOperation' })
        }
      }),
      { numRuns: 3000 },
    )
  })

  test('decodeRequest: round trip of generated requests', () => {
    const b = fc.option(fc.uint8Array({ maxLength: 64 }), { nil: null })
    const req: fc.Arbitrary<NsmRequest> = fc.oneof(
      fc.constant({ type: 'DescribeNSM' as const }),
      fc.constant({ type: 'GetRandom' as const }),
      fc.record({ type: fc.constant('DescribePCR' as const), index: fc.integer({ min: 0, max: 65535 }) }),
      fc.record({ type: fc.constant('LockPCR' as const), index: fc.integer({ min: 0, max: 65535 }) }),
      fc.record({ type: fc.constant('LockPCRs' as const), range: fc.integer({ min: 0, max: 65535 }) }),
      fc.record({ type: fc.constant('ExtendPCR' as const), index: fc.integer({ min: 0, max: 65535 }), data: fc.uint8Array({ maxLength: 200 }) }),
      fc.record({ type: fc.constant('Attestation' as const), userData: b, nonce: b, publicKey: b }),
    )
    fc.assert(
      fc.property(req, (r) => {
        expect(decodeRequest(encodeRequest(r))).toEqual(r)
      }),
      { numRuns: 1000 },
    )
  })
})
