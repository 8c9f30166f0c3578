// The simulator directory: persistence, strict loading, key-file permissions, and renewal of
// expiring certificates (driven by an injected clock, never by waiting).
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import * as x509 from '@peculiar/x509'
import { decodeCbor, type CborMap, type CborValue } from '../../common/cbor.js'
import { silentLogger } from '../../common/log.js'
import { verifyAttestation } from '../../attestation/index.js'
import { NsmSimulator } from '../../nsm/simulator/index.js'
import { parseConfig } from '../../nsm/simulator/store.js'
import { NsmSimulatorStateError } from '../../nsm/errors.js'

let work: string
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'nsm-store-'))
})
afterAll(() => rmSync(work, { recursive: true, force: true }))

let n = 0
const fresh = (): string => join(work, `d${n++}`)

function leafOf(doc: Uint8Array): x509.X509Certificate {
  const cose = decodeCbor(doc) as CborValue[]
  const payload = decodeCbor(cose[2] as Uint8Array) as CborMap
  return new x509.X509Certificate(payload.get('certificate') as Uint8Array)
}
const chainOf = (doc: Uint8Array): string[] => {
  const cose = decodeCbor(doc) as CborValue[]
  const payload = decodeCbor(cose[2] as Uint8Array) as CborMap
  return [...(payload.get('cabundle') as Uint8Array[]), payload.get('certificate') as Uint8Array].map((c) => Buffer.from(c).toString('hex'))
}

describe('persistence', () => {
  test('open() restores the same identity and root; its documents verify against root.pem from disk', async () => {
    const dir = fresh()
    const a = await NsmSimulator.init(dir, { logger: silentLogger, region: 'eu-west-1' })
    const b = await NsmSimulator.open(dir, { logger: silentLogger })
    expect(b.moduleId).toBe(a.moduleId)
    expect(b.rootCertificatePem).toBe(a.rootCertificatePem)
    const root = readFileSync(join(dir, 'root.pem'), 'utf8')
    const doc = await b.attest({ nonce: Uint8Array.of(9) })
    await expect(verifyAttestation(doc, { trustAnchors: [root] })).resolves.toMatchObject({ moduleId: a.moduleId })
    expect(leafOf(doc).subject).toContain('eu-west-1')
  })

  test('a key readable by group or others is refused', async () => {
    const dir = fresh()
    await NsmSimulator.init(dir, { logger: silentLogger })
    chmodSync(join(dir, 'zonal.key'), 0o640)
    await expect(NsmSimulator.open(dir, { logger: silentLogger })).rejects.toMatchObject({ code: 'ERR_NSM_SIMULATOR_STATE', message: /zonal\.key.*chmod 600/ })
  })

  test('a directory group or others can write is refused by init and by open (they could swap root.pem)', async () => {
    const shared = fresh()
    mkdirSync(shared, { mode: 0o700 })
    chmodSync(shared, 0o777)
    await expect(NsmSimulator.init(shared, { logger: silentLogger })).rejects.toMatchObject({ code: 'ERR_NSM_SIMULATOR_STATE', message: /writable by group or others \(mode 777\)/ })
    expect(readdirSync(shared)).toEqual([])
    // a readable, not writable, existing directory is fine: the keys themselves are 0600
    chmodSync(shared, 0o755)
    await NsmSimulator.init(shared, { logger: silentLogger })
    for (const mode of [0o775, 0o757, 0o1777]) {
      chmodSync(shared, mode)
      await expect(NsmSimulator.open(shared, { logger: silentLogger })).rejects.toMatchObject({ code: 'ERR_NSM_SIMULATOR_STATE', message: /writable by group or others/ })
    }
    chmodSync(shared, 0o700)
    await expect(NsmSimulator.open(shared, { logger: silentLogger })).resolves.toBeInstanceOf(NsmSimulator)
  })

  test('a half-written renewal (a key or issuer of another generation) is re-issued from the last consistent CA; a broken root is refused', async () => {
    // what a crash between a level's key and certificate leaves, and what two processes renewing
    // the same directory can interleave into
    const dir = fresh()
    const a = await NsmSimulator.init(dir, { logger: silentLogger })
    const root = readFileSync(join(dir, 'root.pem'), 'utf8')
    const regional = readFileSync(join(dir, 'regional.pem'))
    copyFileSync(join(dir, 'regional.key'), join(dir, 'leaf.key'))
    const warnings: unknown[] = []
    const logger = { ...silentLogger, warn: (o: unknown) => void warnings.push(o) } as unknown as typeof silentLogger
    const b = await NsmSimulator.open(dir, { logger })
    expect(warnings).toContainEqual(expect.objectContaining({ repaired: ['leaf'] }))
    expect((await verifyAttestation(await b.attest({}), { trustAnchors: [root] })).moduleId).toBe(a.moduleId)
    expect(readFileSync(join(dir, 'regional.pem')).equals(regional)).toBe(true)
    // saved: the next open finds nothing to repair
    warnings.length = 0
    await NsmSimulator.open(dir, { logger })
    expect(warnings).not.toContainEqual(expect.objectContaining({ repaired: expect.anything() }))

    const dir2 = fresh()
    const other = fresh()
    await NsmSimulator.init(dir2, { logger: silentLogger })
    await NsmSimulator.init(other, { logger: silentLogger })
    for (const f of ['zonal.pem', 'zonal.key']) copyFileSync(join(other, f), join(dir2, f))
    const c = await NsmSimulator.open(dir2, { logger })
    expect(warnings).toContainEqual(expect.objectContaining({ repaired: ['zonal', 'instance', 'leaf'] }))
    const r = await verifyAttestation(await c.attest({}), { trustAnchors: [readFileSync(join(dir2, 'root.pem'), 'utf8')] })
    expect(r.chain).toHaveLength(5)

    const dir3 = fresh()
    await NsmSimulator.init(dir3, { logger: silentLogger })
    copyFileSync(join(dir3, 'regional.key'), join(dir3, 'root.key'))
    await expect(NsmSimulator.open(dir3, { logger: silentLogger })).rejects.toMatchObject({ code: 'ERR_NSM_SIMULATOR_STATE', message: /root\.key does not belong to root\.pem/ })
    for (const f of ['root.pem', 'root.key']) copyFileSync(join(other, f), join(dir3, f))
    copyFileSync(join(other, 'regional.pem'), join(dir3, 'root.pem'))
    await expect(NsmSimulator.open(dir3, { logger: silentLogger })).rejects.toMatchObject({ code: 'ERR_NSM_SIMULATOR_STATE' })
  })

  test('simulator.json is read strictly', async () => {
    const dir = fresh()
    await NsmSimulator.init(dir, { logger: silentLogger })
    const path = join(dir, 'simulator.json')
    const good = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
    const variants: unknown[] = [
      { ...good, extra: 1 },
      { ...good, debug: 'no' },
      { ...good, pcrs: { 3: 'ab'.repeat(48) } },
      { ...good, pcrs: { 0: 'AB'.repeat(48) } },
      { ...good, identity: { ...(good.identity as object), instanceId: 'i-123' } },
      { ...good, format: 'other/1' },
      [],
    ]
    for (const v of variants) {
      writeFileSync(path, JSON.stringify(v))
      await expect(NsmSimulator.open(dir, { logger: silentLogger }), JSON.stringify(v).slice(0, 80)).rejects.toMatchObject({ code: 'ERR_NSM_SIMULATOR_STATE' })
    }
    writeFileSync(path, '{not json')
    await expect(NsmSimulator.open(dir, { logger: silentLogger })).rejects.toMatchObject({ code: 'ERR_NSM_SIMULATOR_STATE' })
    await expect(NsmSimulator.open(join(work, 'missing'), { logger: silentLogger })).rejects.toMatchObject({ code: 'ERR_NSM_SIMULATOR_STATE' })
  })

  test('fast-check: parseConfig gives a config or ERR_NSM_SIMULATOR_STATE for any text, and keeps valid ones exact', () => {
    const good = {
      format: 'nitro-recipient-nsm-simulator/1',
      identity: { region: 'us-east-1', instanceId: 'i-0123456789abcdef0', enclaveId: '0123456789abcdef', regionalId: 'fedcba9876543210', zonalId: '00112233aabbccdd' },
      debug: false,
      pcrs: { 0: 'ab'.repeat(48), 8: 'cd'.repeat(48) },
    }
    expect(parseConfig(JSON.stringify(good), 'x')).toEqual({ identity: good.identity, debug: false, pcrs: good.pcrs })
    const typed = (text: string): void => {
      try {
        parseConfig(text, 'x')
      } catch (e) {
        expect(e).toBeInstanceOf(NsmSimulatorStateError)
      }
    }
    fc.assert(fc.property(fc.oneof(fc.json(), fc.string()), typed), { numRuns: 2000 })
    // one field of a valid config replaced by any JSON value
    const paths = [['format'], ['debug'], ['identity'], ['identity', 'region'], ['identity', 'instanceId'], ['identity', 'zonalId'], ['pcrs'], ['pcrs', '0'], ['pcrs', '3'], ['pcrs', '08'], ['pcrs', '__proto__']]
    fc.assert(
      fc.property(fc.constantFrom(...paths), fc.jsonValue(), (path, v) => {
        const c = structuredClone(good) as unknown as Record<string, Record<string, unknown>>
        let o: Record<string, unknown> = c
        for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>
        Object.defineProperty(o, path[path.length - 1], { value: v, enumerable: true, writable: true, configurable: true })
        typed(JSON.stringify(c))
      }),
      { numRuns: 2000 },
    )
  })

  test('leftovers of an interrupted init, or an unwritable place, are typed errors', async () => {
    const dir = fresh()
    await NsmSimulator.init(dir, { logger: silentLogger })
    rmSync(join(dir, 'simulator.json'))
    await expect(NsmSimulator.init(dir, { logger: silentLogger })).rejects.toMatchObject({ code: 'ERR_NSM_SIMULATOR_STATE', message: /EEXIST.*empty directory/ })
    writeFileSync(join(work, 'plain-file'), 'x')
    await expect(NsmSimulator.init(join(work, 'plain-file', 'sub'), { logger: silentLogger })).rejects.toMatchObject({ code: 'ERR_NSM_SIMULATOR_STATE' })
  })

  test('configured PCRs and debug mode survive a reopen', async () => {
    const dir = fresh()
    await NsmSimulator.init(dir, { logger: silentLogger, pcrs: { 2: 'cd'.repeat(48) } })
    const s = await NsmSimulator.open(dir, { logger: silentLogger })
    expect(Buffer.from((await s.describePcr(2)).data).toString('hex')).toBe('cd'.repeat(48))
  })
})

describe('renewal (injected clock)', () => {
  const T0 = new Date('2026-06-01T12:00:00.000Z')
  const H = 3600_000
  const D = 24 * H

  test('the leaf is reused inside its window and renewed near its end; CAs renew on their own schedules', async () => {
    const dir = fresh()
    let now = T0
    const sim = await NsmSimulator.init(dir, { logger: silentLogger, now: () => now })
    const root = readFileSync(join(dir, 'root.pem'), 'utf8')
    const at = async (t: Date): Promise<{ doc: Uint8Array; chain: string[] }> => {
      now = t
      const doc = await sim.attest({})
      await verifyAttestation(doc, { trustAnchors: [root], at: t })
      return { doc, chain: chainOf(doc) }
    }
    const c0 = await at(T0)
    const c1 = await at(new Date(T0.getTime() + 2 * H))
    expect(c1.chain).toEqual(c0.chain) // same leaf 2 h later
    const c2 = await at(new Date(T0.getTime() + 3 * H))
    expect(c2.chain.slice(0, 4)).toEqual(c0.chain.slice(0, 4))
    expect(c2.chain[4]).not.toBe(c0.chain[4]) // leaf renewed
    expect(leafOf(c2.doc).notBefore.getTime()).toBe(T0.getTime() + 3 * H)
    // the renewed leaf is on disk, so another process sees it
    expect(new x509.X509Certificate(readFileSync(join(dir, 'leaf.pem'), 'utf8')).serialNumber).toBe(leafOf(c2.doc).serialNumber)

    const c3 = await at(new Date(T0.getTime() + 2 * D))
    expect(c3.chain.slice(0, 3)).toEqual(c0.chain.slice(0, 3))
    expect(c3.chain[3]).not.toBe(c0.chain[3]) // instance CA renewed (1 day)
    const c4 = await at(new Date(T0.getTime() + 10 * D))
    expect(c4.chain.slice(0, 2)).toEqual(c0.chain.slice(0, 2))
    expect(c4.chain[2]).not.toBe(c0.chain[2]) // zonal renewed (5.75 days)
    const c5 = await at(new Date(T0.getTime() + 25 * D))
    expect(c5.chain[0]).toBe(c0.chain[0]) // root never changes
    expect(c5.chain[1]).not.toBe(c0.chain[1]) // regional renewed (20 days)

    // a reopened directory continues from the renewed chain
    const again = await NsmSimulator.open(dir, { logger: silentLogger, now: () => now })
    expect(chainOf(await again.attest({}))).toEqual(c5.chain)
  })

  test('concurrent attests at a renewal point renew once and all verify', async () => {
    let now = T0
    const sim = await NsmSimulator.ephemeral({ logger: silentLogger, now: () => now })
    now = new Date(T0.getTime() + 4 * H)
    const docs = await Promise.all(Array.from({ length: 8 }, () => sim.attest({})))
    const leaves = new Set(docs.map((d) => leafOf(d).serialNumber))
    expect(leaves.size).toBe(1)
    for (const d of docs) await verifyAttestation(d, { trustAnchors: [sim.rootCertificatePem], at: now })
  })

  test('past the root: ERR_NSM_SIMULATOR_STATE, never a document the root does not cover', async () => {
    let now = T0
    const sim = await NsmSimulator.ephemeral({ logger: silentLogger, now: () => now })
    now = new Date(T0.getTime() + 31 * 365 * D)
    await expect(sim.attest({})).rejects.toMatchObject({ code: 'ERR_NSM_SIMULATOR_STATE' })
    now = new Date(T0.getTime() - D) // clock went backwards before the root
    await expect(sim.attest({})).rejects.toMatchObject({ code: 'ERR_NSM_SIMULATOR_STATE' })
  })
})
