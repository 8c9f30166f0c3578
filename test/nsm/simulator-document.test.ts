// Simulator documents: they verify with attestation/ against the simulator's root, fail against
// the AWS root, and are laid out like a real 2026 document (test/fixtures/attestation/).
import { createHash, generateKeyPairSync, verify, X509Certificate as NodeX509 } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { beforeAll, describe, expect, test } from 'vitest'
import * as x509 from '@peculiar/x509'
import { decodeCbor, wasIndefinite, type CborMap, type CborValue } from '../../common/cbor.js'
import { silentLogger } from '../../common/log.js'
import { verifyAttestation } from '../../attestation/index.js'
import { NsmSimulator } from '../../nsm/simulator/index.js'
import { LIFETIME_MS } from '../../nsm/simulator/ca.js'

const FIXTURE = new URL('../fixtures/attestation/base-indef-2026-01-03.cbor', import.meta.url)
const real = new Uint8Array(readFileSync(FIXTURE))

interface Parsed {
  bytes: Uint8Array
  cose: CborValue[]
  payloadBytes: Uint8Array
  payload: CborMap
}
function parse(doc: Uint8Array): Parsed {
  const cose = decodeCbor(doc) as CborValue[]
  const payloadBytes = cose[2] as Uint8Array
  return { bytes: doc, cose, payloadBytes, payload: decodeCbor(payloadBytes) as CborMap }
}

let sim: NsmSimulator
let rsaSpki: Buffer
beforeAll(async () => {
  sim = await NsmSimulator.ephemeral({ logger: silentLogger })
  rsaSpki = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' })
})

describe('verification with attestation/', () => {
  test('verifies against the simulator root, binding public key, nonce and user data', async () => {
    const nonce = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
    const userData = Buffer.from('hello enclave')
    const doc = await sim.attest({ publicKey: rsaSpki, nonce, userData })
    const r = await verifyAttestation(doc, { trustAnchors: [sim.rootCertificatePem], nonce, userData, publicKey: rsaSpki })
    expect(r.kind).toBe('enclave')
    expect(r.moduleId).toBe(sim.moduleId)
    expect(Buffer.from(r.publicKeyDer!).equals(rsaSpki)).toBe(true)
    expect(r.pcrs.size).toBe(16)
    expect(r.chain).toHaveLength(5)
  })

  test('fails against the AWS root (the default anchor) with an untrusted-chain error', async () => {
    const doc = await sim.attest({ publicKey: rsaSpki })
    await expect(verifyAttestation(doc)).rejects.toMatchObject({ code: 'ERR_ATTESTATION_CHAIN_UNTRUSTED' })
  })

  test("fails against another simulator's root", async () => {
    const other = await NsmSimulator.ephemeral({ logger: silentLogger })
    const doc = await sim.attest({})
    await expect(verifyAttestation(doc, { trustAnchors: [other.rootCertificatePem] })).rejects.toMatchObject({
      code: 'ERR_ATTESTATION_CHAIN_UNTRUSTED',
    })
  })

  test('debug mode: all-zero PCR0..15, rejected unless allowDebug', async () => {
    const dbg = await NsmSimulator.ephemeral({ logger: silentLogger, debug: true })
    const doc = await dbg.attest({})
    await expect(verifyAttestation(doc, { trustAnchors: [dbg.rootCertificatePem] })).rejects.toMatchObject({ code: 'ERR_ATTESTATION_DEBUG_MODE' })
    const r = await verifyAttestation(doc, { trustAnchors: [dbg.rootCertificatePem], allowDebug: true })
    for (let i = 0; i < 16; i++) expect(Buffer.from(r.pcrs.get(i)!).equals(Buffer.alloc(48))).toBe(true)
  })

  test('expected PCRs match the given boot values and an app-locked PCR16 appears', async () => {
    const pcr0 = createHash('sha384').update('image').digest()
    const s = await NsmSimulator.ephemeral({ logger: silentLogger, pcrs: { 0: pcr0 } })
    const v16 = await s.extendPcr(16, Buffer.from('app'))
    await s.lockPcr(16)
    const r = await verifyAttestation(await s.attest({}), { trustAnchors: [s.rootCertificatePem], expectedPcrs: { 0: pcr0, 16: v16 } })
    expect(r.pcrs.size).toBe(17)
  })

  test('the signature checks independently with node:crypto over the received bytes', async () => {
    const p = parse(await sim.attest({ nonce: Uint8Array.of(1, 2) }))
    const leaf = new NodeX509(Buffer.from(p.payload.get('certificate') as Uint8Array))
    // Sig_structure = ["Signature1", protected, h'', payload] built by hand, not by our encoder
    const prot = p.cose[0] as Uint8Array
    const len = p.payloadBytes.length
    const sigStructure = Buffer.concat([
      Buffer.from('846a5369676e61747572653144', 'hex'),
      prot,
      Buffer.from([0x40, 0x59, len >> 8, len & 0xff]),
      p.payloadBytes,
    ])
    expect(verify('sha384', sigStructure, { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, p.cose[3] as Uint8Array)).toBe(true)
    // and the chain with node:crypto's own X.509
    const bundle = (p.payload.get('cabundle') as Uint8Array[]).map((d) => new NodeX509(Buffer.from(d)))
    const chain = [...bundle, leaf]
    for (let i = 1; i < chain.length; i++) {
      expect(chain[i].verify(chain[i - 1].publicKey)).toBe(true)
      expect(chain[i].checkIssued(chain[i - 1])).toBe(true)
    }
    expect(chain[0].verify(chain[0].publicKey)).toBe(true)
  })

  test('concurrent attest calls each get their own, valid document', async () => {
    const nonces = Array.from({ length: 12 }, (_, i) => Buffer.from([i, i, i]))
    const docs = await Promise.all(nonces.map((nonce) => sim.attest({ nonce })))
    const results = await Promise.all(docs.map((d) => verifyAttestation(d, { trustAnchors: [sim.rootCertificatePem] })))
    results.forEach((r, i) => expect(Buffer.from(r.nonce!).equals(nonces[i])).toBe(true))
  })
})

describe('layout matches a real document (base-indef-2026-01-03)', () => {
  let mine: Parsed
  const ref = parse(real)
  beforeAll(async () => {
    mine = parse(await sim.attest({ userData: Buffer.alloc(20, 1) }))
  })

  test('untagged COSE_Sign1 with the same envelope bytes', () => {
    // 84 (array 4), 44 a1 01 38 22 (protected {1:-35}), a0 (unprotected {}), 59 (payload bstr, 2-byte length)
    expect(Buffer.from(real.subarray(0, 8)).toString('hex')).toBe('8444a1013822a059')
    expect(Buffer.from(mine.bytes.subarray(0, 8)).toString('hex')).toBe('8444a1013822a059')
    // the signature is the last item: 58 60 + 96 bytes
    for (const d of [real, mine.bytes]) expect(Buffer.from(d.subarray(d.length - 98, d.length - 96)).toString('hex')).toBe('5860')
    expect((mine.cose[3] as Uint8Array).length).toBe(96)
    expect(mine.cose[1]).toEqual(new Map())
  })

  test('indefinite-length payload map, same key order, nulls for absent fields', () => {
    expect(ref.payloadBytes[0]).toBe(0xbf)
    expect(mine.payloadBytes[0]).toBe(0xbf)
    expect(mine.payloadBytes[mine.payloadBytes.length - 1]).toBe(0xff)
    expect(wasIndefinite(ref.payload)).toBe(true)
    expect(wasIndefinite(mine.payload)).toBe(true)
    expect([...mine.payload.keys()]).toEqual([...ref.payload.keys()])
    expect([...mine.payload.keys()]).toEqual(['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce'])
    // the fixture has public_key and nonce null, user_data 20 bytes; so does ours
    for (const p of [ref, mine]) {
      expect(p.payload.get('public_key')).toBeNull()
      expect(p.payload.get('nonce')).toBeNull()
      expect((p.payload.get('user_data') as Uint8Array).length).toBe(20)
    }
    // null is f6, the key is present: "nonce" f6 ff closes both payloads
    for (const p of [ref, mine]) expect(Buffer.from(p.payloadBytes.subarray(-8)).toString('hex')).toBe('656e6f6e6365f6ff')
  })

  test('field types and lengths as in the fixture', () => {
    for (const p of [ref, mine]) {
      expect(p.payload.get('module_id')).toMatch(/^i-[0-9a-f]{17}-enc[0-9a-f]{16}$/)
      expect(p.payload.get('digest')).toBe('SHA384')
      const ts = p.payload.get('timestamp') as number
      expect(Number.isSafeInteger(ts) && ts > 1.6e12).toBe(true)
      const pcrs = p.payload.get('pcrs') as CborMap
      expect(wasIndefinite(pcrs)).toBe(false)
      expect([...pcrs.keys()]).toEqual([...Array(16).keys()])
      for (const v of pcrs.values()) expect((v as Uint8Array).length).toBe(48)
      const bundle = p.payload.get('cabundle') as Uint8Array[]
      expect(wasIndefinite(bundle)).toBe(false)
      expect(bundle).toHaveLength(4)
      for (const c of [...bundle, p.payload.get('certificate') as Uint8Array]) expect(c.length).toBeGreaterThan(0)
      expect((p.payload.get('certificate') as Uint8Array).length).toBeLessThanOrEqual(1024)
    }
    // the timestamp is a full 8-byte uint (1b ...), as in the fixture
    const at = (p: Parsed): string => {
      const i = Buffer.from(p.payloadBytes).indexOf(Buffer.from('6974696d657374616d70', 'hex'))
      return Buffer.from(p.payloadBytes.subarray(i + 10, i + 11)).toString('hex')
    }
    expect(at(mine)).toBe(at(ref))
    expect(at(mine)).toBe('1b')
  })
})

describe('certificate chain profile matches the real chain', () => {
  type RawName = { asn: { type: string; value: { printableString?: string; utf8String?: string } }[][] }
  const chainOf = (p: Parsed): x509.X509Certificate[] =>
    [...(p.payload.get('cabundle') as Uint8Array[]), p.payload.get('certificate') as Uint8Array].map((d) => new x509.X509Certificate(d))
  const profile = (c: x509.X509Certificate) => {
    const bc = c.getExtension(x509.BasicConstraintsExtension)
    const ku = c.getExtension(x509.KeyUsagesExtension)
    const name = c.subjectName as unknown as RawName
    return {
      sigAlg: c.signatureAlgorithm,
      keyAlg: c.publicKey.algorithm,
      extensions: c.extensions.map((e) => `${e.type}${e.critical ? '!' : ''}`),
      ca: bc?.ca ?? null,
      pathLength: bc?.pathLength ?? null,
      keyUsage: ku?.usages ?? null,
      // attribute types and string kinds, in order
      subject: name.asn.map((rdn) => rdn.map((a) => `${a.type}:${a.value.printableString !== undefined ? 'P' : 'U'}`).join('+')),
    }
  }
  test('per position: algorithms, extension order and criticality, constraints, key usage, name layout', async () => {
    const mine = chainOf(parse(await sim.attest({})))
    const ref = chainOf(parse(real))
    expect(mine).toHaveLength(5)
    for (let i = 0; i < 5; i++) expect(profile(mine[i]), `position ${i}`).toEqual(profile(ref[i]))
  })

  test('lifetimes: the leaf lives exactly as long as the real leaf (3 h 0 m 3 s)', async () => {
    const mine = chainOf(parse(await sim.attest({})))
    const ref = chainOf(parse(real))
    const life = (c: x509.X509Certificate): number => c.notAfter.getTime() - c.notBefore.getTime()
    expect(life(mine[4])).toBe(life(ref[4]))
    expect(life(mine[4])).toBe(LIFETIME_MS.leaf)
    expect(life(mine[3])).toBe(life(ref[3])) // instance: 1 day
    // each window nests in its parent's
    for (let i = 1; i < 5; i++) {
      expect(mine[i].notBefore.getTime()).toBeGreaterThanOrEqual(mine[i - 1].notBefore.getTime())
      expect(mine[i].notAfter.getTime()).toBeLessThanOrEqual(mine[i - 1].notAfter.getTime())
    }
  })

  test('names say simulator, never AWS', async () => {
    const mine = chainOf(parse(await sim.attest({})))
    for (const c of mine) {
      expect(c.subject).toContain('simulator')
      expect(c.subject).not.toContain('Amazon')
    }
  })
})

describe('bad input gives the NSM error names', () => {
  test('user_data, nonce, public_key: 1024 bytes accepted together, 1025 is InputTooLarge', async () => {
    const k = Buffer.alloc(1024, 0x80)
    const doc = await sim.attest({ userData: k, nonce: k, publicKey: k })
    const r = await verifyAttestation(doc, { trustAnchors: [sim.rootCertificatePem] })
    expect(r.userData!.length).toBe(1024)
    for (const field of ['userData', 'nonce', 'publicKey'] as const) {
      await expect(sim.attest({ [field]: Buffer.alloc(1025) })).rejects.toMatchObject({ code: 'ERR_NSM_INPUT_TOO_LARGE', nsmCode: 'InputTooLarge' })
    }
  })
})
