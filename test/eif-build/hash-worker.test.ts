import { createHash, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { OffThreadSha384 } from '../../eif-build/hash-worker.js'

const sha384 = (...parts: Uint8Array[]): string => {
  const h = createHash('sha384')
  for (const p of parts) h.update(p)
  return h.digest('hex')
}

describe('OffThreadSha384', () => {
  // threshold 0 forces the worker; the default keeps small inputs on this thread: both must agree
  for (const [label, opts] of [
    ['on a worker', { threshold: 0, maxInFlight: 1 << 20 }],
    ['on this thread', {}],
  ] as const) {
    it(`feeds each lane exactly the chunks its mask names, with snapshots (${label})`, async () => {
      const a = randomBytes(5 << 20) // spans a 4 MiB batch boundary
      const b = randomBytes(70_001)
      const c = randomBytes(3)
      const h = new OffThreadSha384({ lanes: 2, ...opts })
      await h.update(a, 0b01)
      const snap = h.snapshot(0)
      await h.update(b, 0b11)
      await h.update(c, 0b10)
      await h.update(new Uint8Array(0), 0b01)
      const [d0, d1] = await h.digests()
      expect((await snap).toString('hex')).toBe(sha384(a))
      expect(d0.toString('hex')).toBe(sha384(a, b))
      expect(d1.toString('hex')).toBe(sha384(b, c))
    })
  }

  it('one lane by default; digest() is lane 0', async () => {
    const x = randomBytes(9 << 20)
    const h = new OffThreadSha384()
    await h.update(x)
    expect((await h.digest()).toString('hex')).toBe(sha384(x))
  })

  it('rejects lane counts, masks and lanes it does not have', async () => {
    expect(() => new OffThreadSha384({ lanes: 0 })).toThrow(RangeError)
    expect(() => new OffThreadSha384({ lanes: 9 })).toThrow(RangeError)
    const h = new OffThreadSha384({ lanes: 2 })
    await expect(h.update(new Uint8Array(1), 0b100)).rejects.toThrow(RangeError)
    await expect(h.update(new Uint8Array(1), 0)).rejects.toThrow(RangeError)
    await expect(h.snapshot(2)).rejects.toThrow(RangeError)
    await h.abort()
  })
})
