// Every real document from test/fixtures/attestation (MANIFEST.md), at its own time and at today's.
import { X509Certificate } from 'node:crypto'
import { describe, expect, test } from 'vitest'
import {
  AWS_NITRO_ROOT_G1_PEM,
  AWS_NITRO_ROOT_G1_SHA256,
  VerificationCache,
  awsNitroRootG1Der,
  decodeAttestationDocument,
  verifyAttestation,
  type AttestationResult,
} from '../../attestation/index.js'
import { INVALID_BADSIG, INVALID_CORRUPT, ROOT_PEM, VALID, fixture } from './fixtures.js'

const hex = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('hex')

describe('embedded Root-G1', () => {
  test('is byte-identical to the committed fixture PEM and pinned by SHA-256', () => {
    expect(AWS_NITRO_ROOT_G1_PEM).toBe(ROOT_PEM)
    const cert = new X509Certificate(awsNitroRootG1Der())
    expect(cert.fingerprint256.replaceAll(':', '').toLowerCase()).toBe(AWS_NITRO_ROOT_G1_SHA256)
    expect(AWS_NITRO_ROOT_G1_SHA256).toBe('641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b')
  })
})

describe.each(VALID)('$file', (fx) => {
  const at = new Date(fx.timestamp)

  test(`verifies at its own timestamp with PCR0 from MANIFEST${fx.debug ? ' (allowDebug)' : ''}`, async () => {
    const r = await verifyAttestation(fx.bytes, { at, expectedPcrs: { 0: fx.pcr0 }, allowDebug: fx.debug, cache: new VerificationCache() })
    expect(r.kind).toBe(fx.kind)
    expect(r.timestamp.getTime()).toBe(fx.timestamp)
    expect(hex(r.pcrs.get(0))).toBe(fx.pcr0)
    expect(r.debug).toBe(fx.debug)
    expect(r.chain).toHaveLength(5)
    expect(r.chain[0].sha256).toBe(AWS_NITRO_ROOT_G1_SHA256)
    expect(r.chain[4].notBefore.toISOString().replace('.000', '')).toBe(fx.leafNotBefore)
    expect(r.chain[4].notAfter.toISOString().replace('.000', '')).toBe(fx.leafNotAfter)
    expect(r.tagged).toBe(false)
    expect(r.moduleId).toMatch(fx.kind === 'enclave' ? /^i-[0-9a-f]+-enc[0-9a-f]{16}$/ : /^i-[0-9a-f]+-tpm0{16}$/)
  })

  if (fx.debug) {
    test('is rejected as debug-mode without allowDebug', async () => {
      await expect(verifyAttestation(fx.bytes, { at })).rejects.toMatchObject({ code: 'ERR_ATTESTATION_DEBUG_MODE' })
    })
  }

  test("fails at today's date with the expiry code", async () => {
    await expect(verifyAttestation(fx.bytes, { allowDebug: true })).rejects.toMatchObject({ code: 'ERR_ATTESTATION_CERTIFICATE_EXPIRED' })
  })

  test('leaf notAfter exactly passes; one second later fails; notBefore - 1 s fails', async () => {
    const notAfter = Date.parse(fx.leafNotAfter)
    const notBefore = Date.parse(fx.leafNotBefore)
    await expect(verifyAttestation(fx.bytes, { at: new Date(notAfter), allowDebug: true })).resolves.toMatchObject({ kind: fx.kind })
    await expect(verifyAttestation(fx.bytes, { at: new Date(notAfter + 1000), allowDebug: true })).rejects.toMatchObject({
      code: 'ERR_ATTESTATION_CERTIFICATE_EXPIRED',
    })
    await expect(verifyAttestation(fx.bytes, { at: new Date(notBefore - 1000), allowDebug: true })).rejects.toMatchObject({
      code: 'ERR_ATTESTATION_CERTIFICATE_NOT_YET_VALID',
    })
  })

  test('a wrong expected PCR0 is a PCR mismatch', async () => {
    const wrong = (fx.pcr0.startsWith('ff') ? '00' : 'ff') + fx.pcr0.slice(2)
    await expect(verifyAttestation(fx.bytes, { at, allowDebug: true, expectedPcrs: { 0: wrong } })).rejects.toMatchObject({
      code: 'ERR_ATTESTATION_PCR_MISMATCH',
    })
  })

  test('decodeAttestationDocument agrees with verification', () => {
    const d = decodeAttestationDocument(fx.bytes)
    expect(d.timestamp).toBe(fx.timestamp)
    expect(d.kind).toBe(fx.kind)
    expect(d.cabundle).toHaveLength(4)
  })
})

describe('special real documents', () => {
  test('the NitroTPM document reports nitrotpm_pcrs 0..23 and its raw SEC1 public key', async () => {
    const fx = fixture('vaportpm-nitrotpm-2026-02-03.cbor')
    const r = await verifyAttestation(fx.bytes, { at: new Date(fx.timestamp) })
    expect(r.kind).toBe('nitrotpm')
    expect([...r.pcrs.keys()]).toEqual([...Array(24).keys()])
    // a raw 65-byte SEC1 point (the TPM AK) is not a SubjectPublicKeyInfo
    expect(r.publicKeyBytes).toHaveLength(65)
    expect(r.publicKeyBytes?.[0]).toBe(4)
    expect(r.publicKey).toBeNull()
    expect(r.nonce).toHaveLength(32)
  })

  test('sequence-2025-04-04 carries an RSA-2048 SubjectPublicKeyInfo (the KMS Recipient shape)', async () => {
    const fx = fixture('sequence-2025-04-04.cbor')
    const r = await verifyAttestation(fx.bytes, { at: new Date(fx.timestamp) })
    expect(r.publicKey?.asymmetricKeyType).toBe('rsa')
    expect(r.publicKey?.asymmetricKeyDetails?.modulusLength).toBe(2048)
    expect(r.publicKeyDer).toHaveLength(294)
    expect(r.userData).toBeNull()
    expect(r.nonce).toBeNull()
    // the expected public key can be given as the KeyObject itself
    await expect(verifyAttestation(fx.bytes, { at: new Date(fx.timestamp), publicKey: r.publicKey! })).resolves.toBeTruthy()
  })

  test('the result is a private copy when the document is a Buffer, and publicKey is the signed key', async () => {
    const fields = (r: AttestationResult): string[] => [...[...r.pcrs.values()].map(hex), hex(r.publicKeyBytes ?? undefined), hex(r.userData ?? undefined), hex(r.nonce ?? undefined)]
    for (const fx of [fixture('sequence-2025-04-04.cbor'), fixture('eternis-2024-09-09.cbor')]) {
      const doc = Buffer.from(fx.bytes) // what readFile and sockets hand out; Buffer#slice is a view
      const r = await verifyAttestation(doc, { at: new Date(fx.timestamp), allowDebug: true })
      const before = fields(r)
      doc.fill(0) // the caller recycles its buffer
      expect(fields(r)).toEqual(before)
    }
    const fx = fixture('sequence-2025-04-04.cbor')
    const r = await verifyAttestation(Buffer.from(fx.bytes), { at: new Date(fx.timestamp) })
    const der = Buffer.from(r.publicKeyDer!)
    r.publicKeyBytes!.fill(0) // the caller wipes what it holds before the first read of publicKey
    r.publicKeyDer!.fill(0)
    expect(r.publicKey?.export({ type: 'spki', format: 'der' }).equals(der)).toBe(true)
  })

  test('fastcrypto-pcr16: indefinite payload map, PCR16, empty user_data accepted', async () => {
    const fx = fixture('fastcrypto-pcr16-indef-2025-11-10.cbor')
    const r = await verifyAttestation(fx.bytes, { at: new Date(fx.timestamp), userData: new Uint8Array(0) })
    expect(r.pcrs.size).toBe(17)
    expect(r.userData).toEqual(new Uint8Array(0))
    // a 32-byte raw key is not an SPKI: bytes kept, no KeyObject
    expect(r.publicKeyBytes).toHaveLength(32)
    expect(r.publicKey).toBeNull()
    expect(r.publicKeyDer).toBeNull()
  })

  test('nonce and user_data bindings on real documents', async () => {
    const fx = fixture('eternis-2024-09-09.cbor')
    const at = new Date(fx.timestamp)
    const r = await verifyAttestation(fx.bytes, { at, allowDebug: true })
    await expect(verifyAttestation(fx.bytes, { at, allowDebug: true, nonce: r.nonce!, userData: hex(r.userData!) })).resolves.toBeTruthy()
    const badNonce = Uint8Array.from(r.nonce!, (x, i) => (i === 0 ? x ^ 1 : x))
    await expect(verifyAttestation(fx.bytes, { at, allowDebug: true, nonce: badNonce })).rejects.toMatchObject({ code: 'ERR_ATTESTATION_NONCE_MISMATCH' })
    await expect(verifyAttestation(fx.bytes, { at, allowDebug: true, userData: '00' })).rejects.toMatchObject({ code: 'ERR_ATTESTATION_USER_DATA_MISMATCH' })
    const seq = fixture('sequence-2025-04-04.cbor')
    await expect(verifyAttestation(seq.bytes, { at: new Date(seq.timestamp), nonce: '00' })).rejects.toMatchObject({ code: 'ERR_ATTESTATION_NONCE_MISMATCH' })
  })

  test('INVALID-eternis-badsig fails the COSE signature only', async () => {
    await expect(verifyAttestation(INVALID_BADSIG, { at: new Date(1721770180771), allowDebug: true })).rejects.toMatchObject({
      code: 'ERR_ATTESTATION_SIGNATURE',
    })
  })

  test('INVALID-base-corrupt fails CBOR decoding', async () => {
    await expect(verifyAttestation(INVALID_CORRUPT, { at: new Date(1767472867402) })).rejects.toMatchObject({ code: 'ERR_ATTESTATION_MALFORMED' })
    expect(() => decodeAttestationDocument(INVALID_CORRUPT)).toThrow(expect.objectContaining({ code: 'ERR_ATTESTATION_MALFORMED' }))
  })

  test('maxAgeMs and the future-timestamp check', async () => {
    const fx = fixture('sequence-2025-04-04.cbor')
    const at = new Date(fx.timestamp + 60_000)
    await expect(verifyAttestation(fx.bytes, { at, maxAgeMs: 60_000 })).resolves.toBeTruthy()
    await expect(verifyAttestation(fx.bytes, { at, maxAgeMs: 59_999 })).rejects.toMatchObject({ code: 'ERR_ATTESTATION_STALE' })
    await expect(verifyAttestation(fx.bytes, { at, maxAgeMs: 59_000, clockSkewMs: 1000 })).resolves.toBeTruthy()
    await expect(verifyAttestation(fx.bytes, { at: new Date(fx.timestamp - 1) })).rejects.toMatchObject({ code: 'ERR_ATTESTATION_TIMESTAMP' })
    await expect(verifyAttestation(fx.bytes, { at: new Date(fx.timestamp - 1), clockSkewMs: 1 })).resolves.toBeTruthy()
  })

  test('the link cache is used on the second call and does not skip validity checks', async () => {
    const fx = fixture('sequence-2025-04-04.cbor')
    const cache = new VerificationCache()
    await verifyAttestation(fx.bytes, { at: new Date(fx.timestamp), cache })
    // the root is the pinned anchor, parsed once when the anchor set is built
    expect(cache.size).toEqual({ certificates: 4, links: 4 })
    await expect(verifyAttestation(fx.bytes, { cache })).rejects.toMatchObject({ code: 'ERR_ATTESTATION_CERTIFICATE_EXPIRED' })
    await expect(verifyAttestation(fx.bytes, { at: new Date(fx.timestamp), cache })).resolves.toBeTruthy()
  })
})
