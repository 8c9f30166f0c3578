// Stream framing of the NSM server protocol: u32 big-endian length, bounded, any chunking.
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { encodeFrame, FrameReader } from '../../nsm/transport/framing.js'

describe('FrameReader', () => {
  test('a frame is a big-endian u32 length then the bytes', () => {
    expect(encodeFrame(Uint8Array.of(0xaa, 0xbb)).toString('hex')).toBe('00000002aabb')
    const r = new FrameReader(10)
    expect(r.push(Buffer.from('00000002aabb00000001', 'hex')).map((f) => Buffer.from(f).toString('hex'))).toEqual(['aabb'])
    expect(r.pending).toBe(4)
    expect(r.push(Uint8Array.of(0xcc)).map((f) => Buffer.from(f).toString('hex'))).toEqual(['cc'])
    expect(r.pending).toBe(0)
  })

  test('zero or over-limit lengths are ERR_NSM_TRANSPORT as soon as the header is complete', () => {
    expect(() => new FrameReader(10).push(Buffer.from('00000000', 'hex'))).toThrow(expect.objectContaining({ code: 'ERR_NSM_TRANSPORT' }))
    expect(() => new FrameReader(10).push(Buffer.from('0000000b', 'hex'))).toThrow(expect.objectContaining({ code: 'ERR_NSM_TRANSPORT' }))
    expect(() => new FrameReader(4096).push(Buffer.from('ffffffff', 'hex'))).toThrow(expect.objectContaining({ code: 'ERR_NSM_TRANSPORT' }))
    // the header alone, split, is not yet an error
    expect(new FrameReader(10).push(Buffer.from('0000', 'hex'))).toEqual([])
  })

  test('fast-check: any chunking of a frame sequence yields the same frames', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 100 }), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }),
        (frames, cuts) => {
          const stream = Buffer.concat(frames.map(encodeFrame))
          const r = new FrameReader(100)
          const out: Uint8Array[] = []
          let pos = 0
          let i = 0
          while (pos < stream.length) {
            const n = cuts[i++ % cuts.length]
            out.push(...r.push(stream.subarray(pos, pos + n)))
            pos += n
          }
          expect(out.map((f) => Buffer.from(f).toString('hex'))).toEqual(frames.map((f) => Buffer.from(f).toString('hex')))
          expect(r.pending).toBe(0)
        },
      ),
      { numRuns: 500 },
    )
  })

  test('fast-check: random bytes give frames within the bound or ERR_NSM_TRANSPORT', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          for (const f of new FrameReader(64).push(bytes)) expect(f.length).toBeLessThanOrEqual(64)
        } catch (e) {
          expect(e).toMatchObject({ code: 'ERR_NSM_TRANSPORT' })
        }
      }),
      { numRuns: 2000 },
    )
  })
})
