import { readFileSync } from 'node:fs'
import { crc32 as zcrc32 } from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { crc32, crc32Combine } from '../../eif-build/crc32.js'
import { EifError } from '../../eif-build/errors.js'
import { decodeHeader, decodeSectionHeader, encodeHeader, encodeSectionHeader, EIF_HEADER_SIZE, SECTION_HEADER_SIZE } from '../../eif-build/format.js'
import { PCR_OF_EMPTY, pcrOfBytes } from '../../eif-build/measure.js'
import { encodePcrInfo, encodeSignatureSection } from '../../eif-build/signature.js'

const vectors = JSON.parse(readFileSync(new URL('../fixtures/eif/cbor-vectors.json', import.meta.url), 'utf8')) as {
  pcrInfo: { registerIndex: number; registerValue: string; cbor: string }
  signatureSection: { signingCertificate: string; signature: string; cbor: string }
}

describe('EIF header codec', () => {
  it('is 548 bytes, big-endian, and round-trips', () => {
    const h = {
      version: 4, flags: 1, defaultMem: 1n << 30n, defaultCpus: 2n, numSections: 3,
      sectionOffsets: [548n, 1000n, 2000n], sectionSizes: [440n, 988n, 7n], unused: 0, crc32: 0xdeadbeef,
    }
    const b = encodeHeader(h)
    expect(b.length).toBe(EIF_HEADER_SIZE)
    expect(b.subarray(0, 8).toString('hex')).toBe('2e65696600040001')
    expect(b.readBigUInt64BE(8)).toBe(1073741824n)
    expect(b.readUInt16BE(26)).toBe(3)
    expect(b.readBigUInt64BE(28)).toBe(548n)
    expect(b.readBigUInt64BE(28 + 256 + 16)).toBe(7n)
    expect(b.readUInt32BE(544)).toBe(0xdeadbeef)
    expect(decodeHeader(b)).toEqual(h)
  })

  it('section headers are 12 bytes; types 0 and 6 are rejected', () => {
    const s = encodeSectionHeader(3, 0x0102030405n)
    expect(s.length).toBe(SECTION_HEADER_SIZE)
    expect(s.toString('hex')).toBe('000300000000000102030405')
    expect(decodeSectionHeader(s, 'x')).toEqual({ type: 3, flags: 0, size: 0x0102030405n })
    for (const t of [0, 6, 0xffff]) {
      const bad = Buffer.from(s)
      bad.writeUInt16BE(t, 0)
      expect(() => decodeSectionHeader(bad, 'x')).toThrow(expect.objectContaining({ code: 'ERR_EIF_SECTION' }))
    }
    const flagged = Buffer.from(s)
    flagged.writeUInt16BE(1, 2)
    expect(() => decodeSectionHeader(flagged, 'x')).toThrow(expect.objectContaining({ code: 'ERR_EIF_SECTION' }))
  })

  it('rejects unused slots that are not zero and reserved flag bits', () => {
    const b = encodeHeader({ version: 4, flags: 0, defaultMem: 0n, defaultCpus: 0n, numSections: 1, sectionOffsets: [548n], sectionSizes: [1n], unused: 0, crc32: 0 })
    const slot = Buffer.from(b)
    slot.writeBigUInt64BE(5n, 28 + 8 * 31)
    expect(() => decodeHeader(slot)).toThrow(expect.objectContaining({ code: 'ERR_EIF_HEADER' }))
    const flags = Buffer.from(b)
    flags.writeUInt16BE(2, 6)
    expect(() => decodeHeader(flags)).toThrow(expect.objectContaining({ code: 'ERR_EIF_HEADER' }))
  })
})

describe('CRC-32/ISO-HDLC', () => {
  it('has the check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926)
  })
  it('crc32Combine(A, B) equals crc32(A || B) (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        const whole = zcrc32(Buffer.concat([a, b])) >>> 0
        expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(whole)
      }),
    )
  })
})

describe('measurements', () => {
  it('PCR of nothing is the reference constant', () => {
    expect(PCR_OF_EMPTY).toBe('21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a')
    expect(pcrOfBytes(new Uint8Array(0))).toBe(PCR_OF_EMPTY)
  })
})

describe('signature-section CBOR (image-format vectors)', () => {
  it('PcrInfo{0, 0x00..0x2f} encodes byte-exactly', () => {
    const v = vectors.pcrInfo
    expect(Buffer.from(encodePcrInfo(v.registerIndex, Buffer.from(v.registerValue, 'hex'))).toString('hex')).toBe(v.cbor)
  })
  it('a one-entry PcrSignature array encodes byte-exactly', () => {
    const v = vectors.signatureSection
    const out = encodeSignatureSection(Buffer.from(v.signingCertificate), Buffer.from(v.signature, 'hex'))
    expect(Buffer.from(out).toString('hex')).toBe(v.cbor)
  })
  it('errors are EifErrors with codes', () => {
    expect(() => decodeHeader(Buffer.alloc(10))).toThrow(EifError)
  })
})
