import { describe, expect, test } from 'vitest'
import { PcrBank } from '../../nsm/simulator/pcr-bank.js'
import { NsmSimulator } from '../../nsm/simulator/simulator.js'
import { silentLogger } from '../../common/log.js'

// Computed independently with Python's hashlib:
//   a = sha384(bytes(48) + b'abc'); b = sha384(a + bytes([1, 2, 3]))
const AFTER_ABC = 'b1c16eb7634112b7c9d5ebd27e62a2d4528bbfcfd68b62d3afd9ecf98e0f413a84314acce78317fb69fd895155343e09'
const AFTER_ABC_123 = '4f248891076c6ed028d2883ed470926eec70be63dd029d2ef01224532e69665f27a0226c8cd29d17ceeb72ecd4f3538c'
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('PcrBank', () => {
  test('extend is SHA384(old || data), against hand-computed values', () => {
    const bank = new PcrBank()
    expect(hex(bank.describe(16).data)).toBe('00'.repeat(48))
    expect(hex(bank.extend(16, Buffer.from('abc')))).toBe(AFTER_ABC)
    expect(hex(bank.extend(16, Uint8Array.of(1, 2, 3)))).toBe(AFTER_ABC_123)
    expect(hex(bank.describe(16).data)).toBe(AFTER_ABC_123)
    expect(bank.describe(16).locked).toBe(false)
    // other registers untouched
    expect(hex(bank.describe(17).data)).toBe('00'.repeat(48))
  })

  test('describe returns a copy', () => {
    const bank = new PcrBank()
    const d = bank.describe(20).data
    d.fill(7)
    expect(hex(bank.describe(20).data)).toBe('00'.repeat(48))
  })

  test('index out of range is InvalidIndex, for every operation', () => {
    const bank = new PcrBank()
    for (const i of [32, 33, 1000, -1]) {
      expect(() => bank.describe(i)).toThrow(expect.objectContaining({ code: 'ERR_NSM_INVALID_INDEX', nsmCode: 'InvalidIndex' }))
      expect(() => bank.extend(i, Uint8Array.of(1))).toThrow(expect.objectContaining({ code: 'ERR_NSM_INVALID_INDEX' }))
      expect(() => bank.lock(i)).toThrow(expect.objectContaining({ code: 'ERR_NSM_INVALID_INDEX' }))
    }
    expect(() => bank.lockRange(33)).toThrow(expect.objectContaining({ code: 'ERR_NSM_INVALID_INDEX' }))
    expect(() => bank.describe(1.5)).toThrow(TypeError)
  })

  test('a locked register is ReadOnlyIndex for extend and for a second lock; its value is frozen', () => {
    const bank = new PcrBank()
    bank.extend(16, Buffer.from('abc'))
    bank.lock(16)
    expect(bank.describe(16)).toEqual({ locked: true, data: Buffer.from(AFTER_ABC, 'hex') })
    expect(() => bank.extend(16, Uint8Array.of(1, 2, 3))).toThrow(expect.objectContaining({ code: 'ERR_NSM_READ_ONLY_INDEX', nsmCode: 'ReadOnlyIndex' }))
    expect(() => bank.lock(16)).toThrow(expect.objectContaining({ code: 'ERR_NSM_READ_ONLY_INDEX' }))
    expect(hex(bank.describe(16).data)).toBe(AFTER_ABC)
  })

  test('lockRange locks [0, range), keeps locked ones locked, accepts range = 32 and 0', () => {
    const bank = new PcrBank()
    bank.lock(3)
    bank.lockRange(0)
    expect(bank.lockedIndices()).toEqual([3])
    bank.lockRange(5)
    expect(bank.lockedIndices()).toEqual([0, 1, 2, 3, 4])
    expect(() => bank.extend(4, Uint8Array.of(0))).toThrow(expect.objectContaining({ nsmCode: 'ReadOnlyIndex' }))
    bank.extend(5, Uint8Array.of(0))
    bank.lockRange(32)
    expect(bank.lockedIndices()).toHaveLength(32)
  })

  test('lockedSnapshot reports the locked registers, ascending', () => {
    const bank = new PcrBank()
    bank.lock(20)
    bank.lockRange(2)
    expect([...bank.lockedSnapshot().keys()]).toEqual([0, 1, 20])
  })
})

describe('simulator PCR semantics (boot state like a real NSM)', () => {
  test('PCR0..15 locked at boot, 16..31 zero and free; documents report the locked ones', async () => {
    const sim = await NsmSimulator.ephemeral({ logger: silentLogger })
    const d = await sim.describeNsm()
    expect(d.lockedPcrs).toEqual([...Array(16).keys()])
    expect(d.maxPcrs).toBe(32)
    expect(d.digest).toBe('SHA384')
    expect(d.moduleId).toMatch(/^i-[0-9a-f]{17}-enc[0-9a-f]{16}$/)
    await expect(sim.lockPcr(0)).rejects.toMatchObject({ nsmCode: 'ReadOnlyIndex' })
    await expect(sim.extendPcr(15, Uint8Array.of(1))).rejects.toMatchObject({ nsmCode: 'ReadOnlyIndex' })
    await expect(sim.describePcr(32)).rejects.toMatchObject({ nsmCode: 'InvalidIndex' })
    await expect(sim.lockPcrs(33)).rejects.toMatchObject({ nsmCode: 'InvalidIndex' })
    expect(hex(await sim.extendPcr(16, Buffer.from('abc')))).toBe(AFTER_ABC)
    await sim.lockPcr(16)
    expect((await sim.describeNsm()).lockedPcrs).toEqual([...Array(17).keys()])
    // PCR3 (no IAM role) and 5..15 are zero; 0, 1, 2, 4 are measured (non-zero)
    for (const i of [0, 1, 2, 4]) expect(hex((await sim.describePcr(i)).data)).not.toBe('00'.repeat(48))
    for (const i of [3, 5, 8, 15]) expect(hex((await sim.describePcr(i)).data)).toBe('00'.repeat(48))
  })

  test('PCR0/1/2/8 take the given values; debug mode zeroes PCR0..15', async () => {
    const v = (c: string): string => c.repeat(96)
    const sim = await NsmSimulator.ephemeral({ logger: silentLogger, pcrs: { 0: v('a'), 1: v('b'), 2: Buffer.alloc(48, 0xcc), 8: v('d') } })
    expect(hex((await sim.describePcr(0)).data)).toBe(v('a'))
    expect(hex((await sim.describePcr(1)).data)).toBe(v('b'))
    expect(hex((await sim.describePcr(2)).data)).toBe(v('c'))
    expect(hex((await sim.describePcr(8)).data)).toBe(v('d'))
    const dbg = await NsmSimulator.ephemeral({ logger: silentLogger, debug: true, pcrs: { 0: v('a') } })
    for (let i = 0; i < 16; i++) expect(hex((await dbg.describePcr(i)).data)).toBe('00'.repeat(48))
    await expect(NsmSimulator.ephemeral({ logger: silentLogger, pcrs: { 3: v('a') } as never })).rejects.toThrow(RangeError)
    await expect(NsmSimulator.ephemeral({ logger: silentLogger, pcrs: { 0: 'abcd' } })).rejects.toThrow(RangeError)
  })
})
