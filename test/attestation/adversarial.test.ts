// Adversarial documents, each with exactly one defect and the error code it must produce.
// Documents needing a valid signature come from the test PKI in test-ca.ts.
import { webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { beforeAll, describe, expect, test } from 'vitest'
import { CborTag, decodeCbor, encodeCbor, type CborKey, type CborMap, type EncodableValue } from '../../common/cbor.js'
import { MAX_DOCUMENT_BYTES, VerificationCache, verifyAttestation, type AttestationErrorCode, type VerifyOptions } from '../../attestation/index.js'
import { fixture } from './fixtures.js'
import {
  DOC_TIME,
  LEAF_NOT_AFTER,
  T0,
  buildPki,
  encodePayload,
  issue,
  makeDoc,
  newKeys,
  payloadFields,
  type TestPki,
} from './test-ca.js'

const KU = x509.KeyUsageFlags
let pki: TestPki
let opts: VerifyOptions

beforeAll(async () => {
  pki = await buildPki()
  opts = { trustAnchors: [pki.rootPem], at: new Date(DOC_TIME), cache: false }
})

async function rejects(doc: Uint8Array | Promise<Uint8Array>, code: AttestationErrorCode, o: VerifyOptions = opts): Promise<void> {
  await expect(verifyAttestation(await doc, o)).rejects.toMatchObject({ code })
}

/** A test document signed by the test leaf, with `edit` applied to the payload fields. */
async function doc(edit?: (f: Map<CborKey, EncodableValue>) => void, extra: Parameters<typeof makeDoc>[2] = {}): Promise<Uint8Array> {
  const fields = payloadFields(pki)
  edit?.(fields)
  return makeDoc(pki.leaf.keys.privateKey, pki, { fields, ...extra })
}

/** A document whose chain is `bundle` + `leaf` (signed by the leaf's key). */
async function chainDoc(bundle: { der: Uint8Array }[], leaf: { der: Uint8Array; keys: webcrypto.CryptoKeyPair }): Promise<Uint8Array> {
  return makeDoc(leaf.keys.privateKey, pki, { fields: payloadFields({ bundle, leaf }) })
}

// Real fixture pieces, for defects that are found before the signature check.
const SEQ = fixture('sequence-2025-04-04.cbor')
const seqAt: VerifyOptions = { at: new Date(SEQ.timestamp), cache: false }
function seqParts(): [Uint8Array, CborMap, Uint8Array, Uint8Array] {
  return decodeCbor(SEQ.bytes) as [Uint8Array, CborMap, Uint8Array, Uint8Array]
}
function envelope(prot: Uint8Array, unprot: EncodableValue, payload: Uint8Array, sig: Uint8Array): Uint8Array {
  return encodeCbor([prot, unprot, payload, sig])
}
function seqWithPayload(edit: (m: CborMap) => void): Uint8Array {
  const [p, u, payload, s] = seqParts()
  const m = decodeCbor(payload) as CborMap
  edit(m)
  return envelope(p, u as EncodableValue, encodeCbor(m as EncodableValue), s)
}

describe('baseline', () => {
  test('the test PKI document verifies with its root as anchor', async () => {
    const r = await verifyAttestation(await doc(), opts)
    expect(r.kind).toBe('enclave')
    expect(r.chain).toHaveLength(5)
  })
  test('an indefinite-length payload map verifies', async () => {
    await expect(verifyAttestation(await doc(undefined, { indefinite: true }), opts)).resolves.toMatchObject({ kind: 'enclave' })
  })
  test('a NitroTPM document verifies (zero PCRs are not "debug" there)', async () => {
    const fields = payloadFields(pki, 'nitrotpm')
    const pcrs = fields.get('nitrotpm_pcrs') as Map<CborKey, EncodableValue>
    for (const k of [0, 1, 2]) pcrs.set(k, new Uint8Array(48))
    const r = await verifyAttestation(await makeDoc(pki.leaf.keys.privateKey, pki, { fields }), opts)
    expect(r.kind).toBe('nitrotpm')
    expect(r.debug).toBe(false)
  })
  test('1024-byte public_key, user_data and nonce are accepted (AWS nsm-check uses 1024)', async () => {
    const d = await doc((f) => {
      f.set('public_key', new Uint8Array(1024).fill(1))
      f.set('user_data', new Uint8Array(1024).fill(2))
      f.set('nonce', new Uint8Array(1024).fill(3))
    })
    const r = await verifyAttestation(d, opts)
    expect([r.publicKeyBytes?.length, r.userData?.length, r.nonce?.length]).toEqual([1024, 1024, 1024])
  })
  test('32- and 64-byte enclave PCRs are accepted', async () => {
    const d = await doc((f) => {
      const p = f.get('pcrs') as Map<CborKey, EncodableValue>
      p.set(3, new Uint8Array(32).fill(9))
      p.set(4, new Uint8Array(64).fill(9))
    })
    await expect(verifyAttestation(d, opts)).resolves.toBeTruthy()
  })
  test('empty public_key, user_data and nonce are accepted (0..1024)', async () => {
    const d = await doc((f) => {
      f.set('public_key', new Uint8Array(0))
      f.set('user_data', new Uint8Array(0))
      f.set('nonce', new Uint8Array(0))
    })
    const r = await verifyAttestation(d, { ...opts, nonce: new Uint8Array(0) })
    expect([r.publicKeyBytes?.length, r.publicKeyDer, r.publicKey, r.userData?.length, r.nonce?.length]).toEqual([0, null, null, 0, 0])
  })
  test('absent optional fields are the same as null', async () => {
    const d = await doc((f) => {
      f.delete('public_key')
      f.delete('nonce')
    })
    await expect(verifyAttestation(d, opts)).resolves.toMatchObject({ publicKey: null, nonce: null })
  })
})

describe('envelope and CBOR', () => {
  test('tag 18 around a real document is accepted', async () => {
    const tagged = Uint8Array.from([0xd2, ...SEQ.bytes])
    await expect(verifyAttestation(tagged, seqAt)).resolves.toMatchObject({ tagged: true })
  })
  test('tag 18 around a test document is accepted', async () => {
    await expect(verifyAttestation(await doc(undefined, { tag: 18 }), opts)).resolves.toMatchObject({ tagged: true })
  })
  test('tag 17 (COSE_Mac0) is rejected', () => rejects(doc(undefined, { tag: 17 }), 'ERR_ATTESTATION_COSE_STRUCTURE'))
  test('nested tag 18(18(...)) is rejected', () => rejects(Uint8Array.from([0xd2, 0xd2, ...SEQ.bytes]), 'ERR_ATTESTATION_COSE_STRUCTURE', seqAt))
  test('a trailing byte after the COSE array', () => rejects(Uint8Array.from([...SEQ.bytes, 0x00]), 'ERR_ATTESTATION_TRAILING_BYTES', seqAt))
  test('trailing bytes inside the (validly signed) payload', async () => {
    const payload = Uint8Array.from([...encodePayload(payloadFields(pki)), 0xf6])
    await rejects(makeDoc(pki.leaf.keys.privateKey, pki, { payload }), 'ERR_ATTESTATION_TRAILING_BYTES')
  })
  test('a truncated document', () => rejects(SEQ.bytes.subarray(0, SEQ.bytes.length - 1), 'ERR_ATTESTATION_MALFORMED', seqAt))
  test('a declared length beyond the input', () => rejects(Uint8Array.of(0x84, 0x5a, 0xff, 0xff, 0xff, 0xf0, 0x00), 'ERR_ATTESTATION_MALFORMED'))
  test('an input over the 262144-byte cap is rejected before parsing', () =>
    rejects(new Uint8Array(MAX_DOCUMENT_BYTES + 1), 'ERR_ATTESTATION_TOO_LARGE'))
  test('an array of 3 items', () => {
    const [p, u, payload] = seqParts()
    return rejects(encodeCbor([p, u as EncodableValue, payload]), 'ERR_ATTESTATION_COSE_STRUCTURE', seqAt)
  })
  test('a payload that is a map instead of a byte string', () => {
    const [p, u, payload, s] = seqParts()
    return rejects(encodeCbor([p, u as EncodableValue, decodeCbor(payload) as EncodableValue, s]), 'ERR_ATTESTATION_COSE_STRUCTURE', seqAt)
  })
  test('a duplicate payload key (validly signed)', async () => {
    const base = encodePayload(payloadFields(pki))
    expect(base[0]).toBe(0xa9)
    const payload = Uint8Array.from([0xaa, ...base.subarray(1), ...encodeCbor('nonce'), 0xf6])
    await rejects(makeDoc(pki.leaf.keys.privateKey, pki, { payload }), 'ERR_ATTESTATION_DUPLICATE_KEY')
  })
  test('a second "pcrs" entry in a real payload (base/nitro-validator #36: last write must not win)', () => {
    const [p, u, payload, s] = seqParts()
    expect(payload[0]).toBe(0xa9)
    const m = decodeCbor(payload) as CborMap
    const pcrs = encodeCbor(m.get('pcrs') as EncodableValue)
    const dup = Uint8Array.from([0xaa, ...payload.subarray(1), ...encodeCbor('pcrs'), ...pcrs])
    return rejects(envelope(p, u as EncodableValue, dup, s), 'ERR_ATTESTATION_DUPLICATE_KEY', seqAt)
  })
  test('a duplicate PCR index (validly signed)', async () => {
    const fields = payloadFields(pki)
    const pcrs = encodeCbor(fields.get('pcrs') as EncodableValue)
    expect(pcrs[0]).toBe(0xb0)
    const dupPcrs = Uint8Array.from([0xb1, ...pcrs.subarray(1), 0x00, 0x58, 0x30, ...new Uint8Array(48)])
    const encoded = encodePayload(fields)
    const at = Buffer.from(encoded).indexOf(Buffer.from(pcrs))
    const payload = Uint8Array.from([...encoded.subarray(0, at), ...dupPcrs, ...encoded.subarray(at + pcrs.length)])
    await rejects(makeDoc(pki.leaf.keys.privateKey, pki, { payload }), 'ERR_ATTESTATION_DUPLICATE_KEY')
  })
  test('a duplicate key in the protected header', () => {
    const [, u, payload, s] = seqParts()
    return rejects(envelope(Uint8Array.of(0xa2, 0x01, 0x38, 0x22, 0x01, 0x38, 0x22), u as EncodableValue, payload, s), 'ERR_ATTESTATION_DUPLICATE_KEY', seqAt)
  })
  test('nesting deeper than the bound (validly signed)', async () => {
    let deep: EncodableValue = 1
    for (let i = 0; i < 10; i++) deep = [deep]
    await rejects(doc((f) => f.set('user_data', deep)), 'ERR_ATTESTATION_TOO_DEEP')
  })
  test('a float timestamp (validly signed)', async () => {
    const fields = payloadFields(pki)
    fields.set('timestamp', 0) // placeholder, patched to a float below
    const enc = encodePayload(fields)
    const key = Buffer.from(encodeCbor('timestamp'))
    const at = Buffer.from(enc).indexOf(key) + key.length
    const float = Buffer.alloc(9)
    float[0] = 0xfb
    float.writeDoubleBE(DOC_TIME, 1)
    const payload = Uint8Array.from([...enc.subarray(0, at), ...float, ...enc.subarray(at + 1)])
    await rejects(makeDoc(pki.leaf.keys.privateKey, pki, { payload }), 'ERR_ATTESTATION_MALFORMED')
  })
})

describe('COSE headers (algorithm changes)', () => {
  const withProt = (prot: number[]): Uint8Array => {
    const [, u, payload, s] = seqParts()
    return envelope(Uint8Array.from(prot), u as EncodableValue, payload, s)
  }
  test('ES256 {1: -7}', () => rejects(withProt([0xa1, 0x01, 0x26]), 'ERR_ATTESTATION_COSE_HEADER', seqAt))
  test('ES512 {1: -36}', () => rejects(withProt([0xa1, 0x01, 0x38, 0x23]), 'ERR_ATTESTATION_COSE_HEADER', seqAt))
  test('alg as text {1: "ES384"}', () => rejects(withProt([...encodeCbor(new Map([[1, 'ES384']]))]), 'ERR_ATTESTATION_COSE_HEADER', seqAt))
  test('an extra protected parameter {1: -35, 4: h"00"}', () => rejects(withProt([0xa2, 0x01, 0x38, 0x22, 0x04, 0x41, 0x00]), 'ERR_ATTESTATION_COSE_HEADER', seqAt))
  test('an empty protected header', () => rejects(withProt([]), 'ERR_ATTESTATION_COSE_HEADER', seqAt))
  test('a non-empty unprotected header', () => {
    const [p, , payload, s] = seqParts()
    return rejects(envelope(p, new Map([[4, Uint8Array.of(1)]]), payload, s), 'ERR_ATTESTATION_COSE_HEADER', seqAt)
  })
  test('the same ES384 header signed over, but from a test document with {1:-35} re-encoded non-minimally', async () => {
    // a1 18 01 38 22 is {1:-35} with a non-minimal key; it is signed as received, so it verifies
    const d = await doc(undefined, { protectedHeader: Uint8Array.of(0xa1, 0x18, 0x01, 0x38, 0x22) })
    await expect(verifyAttestation(d, opts)).resolves.toBeTruthy()
  })
})

describe('COSE signature', () => {
  const withSig = (f: (s: Uint8Array) => Uint8Array): Uint8Array => {
    const [p, u, payload, s] = seqParts()
    return envelope(p, u as EncodableValue, payload, f(new Uint8Array(s)))
  }
  test.each([0, 47, 48, 95])('a bit flip in signature byte %i', (i) =>
    rejects(
      withSig((s) => {
        s[i] ^= 0x01
        return s
      }),
      'ERR_ATTESTATION_SIGNATURE',
      seqAt,
    ),
  )
  test('a bit flip inside a PCR value of the payload', () => {
    const [p, u, payload, s] = seqParts()
    const copy = new Uint8Array(payload)
    const at = Buffer.from(copy).indexOf(Buffer.from(SEQ.pcr0, 'hex'))
    copy[at + 10] ^= 0x80
    return rejects(envelope(p, u as EncodableValue, copy, s), 'ERR_ATTESTATION_SIGNATURE', seqAt)
  })
  test.each([95, 97, 64, 0])('a %i-byte signature', (n) =>
    rejects(
      withSig((s) => {
        const out = new Uint8Array(n)
        out.set(s.subarray(0, Math.min(n, 96)))
        return out
      }),
      'ERR_ATTESTATION_SIGNATURE_FORMAT',
      seqAt,
    ),
  )
  test('a DER-encoded (not raw r||s) signature', async () => {
    const { signatureToDer } = await derHelpers()
    await rejects(doc(undefined, { mutateSignature: signatureToDer }), 'ERR_ATTESTATION_SIGNATURE_FORMAT')
  })
  test('the high-S twin (r, n - s) is accepted: AWS does not normalise S', async () => {
    const n = BigInt('0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973')
    const twin = withSig((sig) => {
      const s = BigInt(`0x${Buffer.from(sig.subarray(48)).toString('hex')}`)
      sig.set(Buffer.from((n - s).toString(16).padStart(96, '0'), 'hex'), 48)
      return sig
    })
    await expect(verifyAttestation(twin, seqAt)).resolves.toBeTruthy()
  })
  test('a document signed by a key other than the leaf certificate key', async () => {
    const other = await newKeys()
    await rejects(makeDoc(other.privateKey, pki, { fields: payloadFields(pki) }), 'ERR_ATTESTATION_SIGNATURE')
  })
})

describe('payload schema', () => {
  const schema = (edit: (f: Map<CborKey, EncodableValue>) => void): Promise<void> => rejects(doc(edit), 'ERR_ATTESTATION_SCHEMA')
  const pcrs = (f: Map<CborKey, EncodableValue>): Map<CborKey, EncodableValue> => f.get('pcrs') as Map<CborKey, EncodableValue>
  test('an unknown key', () => schema((f) => f.set('extra', null)))
  test('a non-text key', () => schema((f) => f.set(7, null)))
  test('digest "SHA256"', () => schema((f) => f.set('digest', 'SHA256')))
  test('an empty module_id', () => schema((f) => f.set('module_id', '')))
  test('a missing module_id', () => schema((f) => f.delete('module_id')))
  test('a timestamp of 0', () => schema((f) => f.set('timestamp', 0)))
  test('a negative timestamp', () => schema((f) => f.set('timestamp', -1)))
  test('a text timestamp', () => schema((f) => f.set('timestamp', String(DOC_TIME))))
  test('PCR index 32', () => schema((f) => pcrs(f).set(32, new Uint8Array(48))))
  test('PCR index -1', () => schema((f) => pcrs(f).set(-1, new Uint8Array(48))))
  test('a 47-byte PCR', () => schema((f) => pcrs(f).set(5, new Uint8Array(47))))
  test('an empty pcrs map', () => schema((f) => f.set('pcrs', new Map())))
  test('both pcrs and nitrotpm_pcrs', () => schema((f) => f.set('nitrotpm_pcrs', new Map([[0, new Uint8Array(48)]]))))
  test('neither pcrs nor nitrotpm_pcrs', () => schema((f) => f.delete('pcrs')))
  test('NitroTPM PCR index 24', async () => {
    const fields = payloadFields(pki, 'nitrotpm')
    ;(fields.get('nitrotpm_pcrs') as Map<CborKey, EncodableValue>).set(24, new Uint8Array(48))
    await rejects(makeDoc(pki.leaf.keys.privateKey, pki, { fields }), 'ERR_ATTESTATION_SCHEMA')
  })
  test('a 32-byte NitroTPM PCR', async () => {
    const fields = payloadFields(pki, 'nitrotpm')
    ;(fields.get('nitrotpm_pcrs') as Map<CborKey, EncodableValue>).set(3, new Uint8Array(32))
    await rejects(makeDoc(pki.leaf.keys.privateKey, pki, { fields }), 'ERR_ATTESTATION_SCHEMA')
  })
  test('a 1025-byte user_data', () => schema((f) => f.set('user_data', new Uint8Array(1025))))
  test('a 1025-byte nonce', () => schema((f) => f.set('nonce', new Uint8Array(1025))))
  test('a 1025-byte public_key', () => schema((f) => f.set('public_key', new Uint8Array(1025))))
  test('a 1025-byte certificate', () => schema((f) => f.set('certificate', new Uint8Array(1025))))
  test('an empty cabundle', () => schema((f) => f.set('cabundle', [])))
  test('a cabundle of 17 certificates', () => schema((f) => f.set('cabundle', Array(17).fill(pki.root.der))))
  test('a cabundle entry that is not a byte string', () => schema((f) => f.set('cabundle', [pki.root.der, 'x'])))
  test('CBOR undefined as an optional field', () => schema((f) => f.set('nonce', undefined)))
  test('nonce as text', () => schema((f) => f.set('nonce', 'abc')))
  test('a payload that is an array', () => rejects(makeDoc(pki.leaf.keys.privateKey, pki, { payload: encodeCbor([1, 2]) }), 'ERR_ATTESTATION_SCHEMA'))
  test('the error names the field', async () => {
    await expect(verifyAttestation(await doc((f) => f.set('digest', 'SHA512')), opts)).rejects.toMatchObject({ field: 'digest' })
  })
})

describe('certificate chain', () => {
  test('a foreign root under the default (AWS) anchor', () => rejects(doc(), 'ERR_ATTESTATION_CHAIN_UNTRUSTED', { at: new Date(DOC_TIME), cache: false }))
  test('the foreign root is accepted when passed as DER anchor', async () => {
    await expect(verifyAttestation(await doc(), { ...opts, trustAnchors: [pki.root.der] })).resolves.toBeTruthy()
  })
  test('a look-alike root (same name, other key) is untrusted', async () => {
    const fake = await issue({ cn: 'test-root', ca: true })
    const regional = await issue({ cn: 'test-regional', ca: true, pathLen: 2 }, fake, { keys: pki.bundle[1].keys })
    await rejects(chainDoc([fake, regional, pki.bundle[2], pki.bundle[3]], pki.leaf), 'ERR_ATTESTATION_CHAIN_UNTRUSTED')
  })
  test('a real document with the AWS root replaced by another root', () =>
    rejects(
      seqWithPayload((m) => {
        const b = m.get('cabundle') as Uint8Array[]
        b[0] = pki.root.der
      }),
      'ERR_ATTESTATION_CHAIN_UNTRUSTED',
      seqAt,
    ))
  test('a missing intermediate', () => rejects(chainDoc([pki.bundle[0], pki.bundle[1], pki.bundle[3]], pki.leaf), 'ERR_ATTESTATION_CHAIN_ISSUER'))
  test('a missing last bundle certificate (real document)', () =>
    rejects(
      seqWithPayload((m) => (m.get('cabundle') as Uint8Array[]).pop()),
      'ERR_ATTESTATION_CHAIN_ISSUER',
      seqAt,
    ))
  test('reordered intermediates', () => rejects(chainDoc([pki.bundle[0], pki.bundle[2], pki.bundle[1], pki.bundle[3]], pki.leaf), 'ERR_ATTESTATION_CHAIN_ISSUER'))
  test('reordered intermediates (real document)', () =>
    rejects(
      seqWithPayload((m) => {
        const b = m.get('cabundle') as Uint8Array[]
        ;[b[1], b[2]] = [b[2], b[1]]
      }),
      'ERR_ATTESTATION_CHAIN_ISSUER',
      seqAt,
    ))
  test('an extra certificate at the end of the bundle', async () => {
    const extra = await issue({ cn: 'test-extra', ca: true }, pki.bundle[3])
    await rejects(chainDoc([...pki.bundle, extra], pki.leaf), 'ERR_ATTESTATION_CHAIN_ISSUER')
  })
  test('a duplicated intermediate', () => rejects(chainDoc([...pki.bundle, pki.bundle[3]], pki.leaf), 'ERR_ATTESTATION_CHAIN_ISSUER'))
  test('root-last order (the reverse of what the format says)', () =>
    rejects(chainDoc([...pki.bundle].reverse(), pki.leaf), 'ERR_ATTESTATION_CHAIN_UNTRUSTED'))
  test("an intermediate signed by the wrong parent's key (right issuer name)", async () => {
    const impostor = await newKeys()
    const instance = await issue({ cn: 'test-instance', ca: true, pathLen: 0, keyUsage: KU.keyCertSign }, pki.bundle[2], { keys: pki.bundle[3].keys, signer: impostor.privateKey })
    await rejects(chainDoc([pki.bundle[0], pki.bundle[1], pki.bundle[2], instance], pki.leaf), 'ERR_ATTESTATION_CHAIN_SIGNATURE')
  })
  test('a flipped byte in a real bundle certificate signature', () =>
    rejects(
      seqWithPayload((m) => {
        const b = m.get('cabundle') as Uint8Array[]
        const c = new Uint8Array(b[2])
        c[c.length - 10] ^= 0x01 // inside s of the ECDSA signature
        b[2] = c
      }),
      'ERR_ATTESTATION_CHAIN_SIGNATURE',
      seqAt,
    ))
  test('a changed character in the real leaf certificate subject (TBS no longer matches its signature)', () =>
    rejects(
      seqWithPayload((m) => {
        const c = new Uint8Array(m.get('certificate') as Uint8Array)
        const at = Buffer.from(c).indexOf('i-01721714461f7afa6-enc01953e42450be060')
        expect(at).toBeGreaterThan(0)
        c[at] = 0x49 // 'i' -> 'I'
        m.set('certificate', c)
      }),
      'ERR_ATTESTATION_CHAIN_SIGNATURE',
      seqAt,
    ))
  test('a CA leaf', async () => {
    const leaf = await issue({ cn: 'ca-leaf', ca: true, keyUsage: KU.digitalSignature | KU.keyCertSign, notBefore: T0, notAfter: LEAF_NOT_AFTER }, pki.bundle[3])
    await rejects(chainDoc(pki.bundle, leaf), 'ERR_ATTESTATION_CHAIN_CONSTRAINTS')
  })
  test('a leaf without digitalSignature', async () => {
    const leaf = await issue({ cn: 'ku-leaf', ca: false, keyUsage: KU.keyEncipherment, notBefore: T0, notAfter: LEAF_NOT_AFTER }, pki.bundle[3])
    await rejects(chainDoc(pki.bundle, leaf), 'ERR_ATTESTATION_CHAIN_CONSTRAINTS')
  })
  test('an intermediate without keyCertSign', async () => {
    const instance = await issue({ cn: 'test-instance', ca: true, pathLen: 0, keyUsage: KU.digitalSignature | KU.cRLSign }, pki.bundle[2], { keys: pki.bundle[3].keys })
    await rejects(chainDoc([pki.bundle[0], pki.bundle[1], pki.bundle[2], instance], pki.leaf), 'ERR_ATTESTATION_CHAIN_CONSTRAINTS')
  })
  test('an intermediate whose basicConstraints is not critical', async () => {
    const instance = await issue({ cn: 'test-instance', ca: true, pathLen: 0, bc: 'noncritical', keyUsage: KU.keyCertSign }, pki.bundle[2], { keys: pki.bundle[3].keys })
    await rejects(chainDoc([pki.bundle[0], pki.bundle[1], pki.bundle[2], instance], pki.leaf), 'ERR_ATTESTATION_CHAIN_CONSTRAINTS')
  })
  test('an intermediate without basicConstraints', async () => {
    const instance = await issue({ cn: 'test-instance', ca: false, bc: 'absent', keyUsage: KU.keyCertSign }, pki.bundle[2], { keys: pki.bundle[3].keys })
    await rejects(chainDoc([pki.bundle[0], pki.bundle[1], pki.bundle[2], instance], pki.leaf), 'ERR_ATTESTATION_CHAIN_CONSTRAINTS')
  })
  test('pathLen 0 on the zonal CA with a CA below it', async () => {
    const zonal = await issue({ cn: 'test-zonal', ca: true, pathLen: 0 }, pki.bundle[1], { keys: pki.bundle[2].keys })
    await rejects(chainDoc([pki.bundle[0], pki.bundle[1], zonal, pki.bundle[3]], pki.leaf), 'ERR_ATTESTATION_CHAIN_CONSTRAINTS')
  })
  test('pathLen 2 on the root with three CAs below it (applied to the anchor too: stricter than RFC 5280)', async () => {
    const root = await issue({ cn: 'test-root', ca: true, pathLen: 2 }, undefined, { keys: pki.root.keys })
    await rejects(chainDoc([root, ...pki.bundle.slice(1)], pki.leaf), 'ERR_ATTESTATION_CHAIN_CONSTRAINTS', { ...opts, trustAnchors: [root.der] })
  })
  test('pathLen exactly sufficient (root pathLen 3) passes', async () => {
    const root = await issue({ cn: 'test-root', ca: true, pathLen: 3 }, undefined, { keys: pki.root.keys })
    await expect(verifyAttestation(await chainDoc([root, ...pki.bundle.slice(1)], pki.leaf), { ...opts, trustAnchors: [root.der] })).resolves.toBeTruthy()
  })
  test('a root valid until 2060 (GeneralizedTime, RFC 5280 from 2050 on) verifies', async () => {
    const notAfter = Date.parse('2060-01-01T00:00:00Z')
    const root = await issue({ cn: 'test-root', ca: true, notBefore: T0 - 24 * 3_600_000, notAfter }, undefined, { keys: pki.root.keys })
    const r = await verifyAttestation(await chainDoc([root, ...pki.bundle.slice(1)], pki.leaf), { ...opts, trustAnchors: [root.der] })
    expect(r.chain[0].notAfter.getTime()).toBe(notAfter)
  })
  test('an unknown critical extension', async () => {
    const ext = new x509.Extension('1.3.6.1.4.1.99999.1', true, Uint8Array.of(0x05, 0x00))
    const leaf = await issue({ cn: 'crit-leaf', ca: false, notBefore: T0, notAfter: LEAF_NOT_AFTER, extra: [ext] }, pki.bundle[3])
    await rejects(chainDoc(pki.bundle, leaf), 'ERR_ATTESTATION_CERTIFICATE_MALFORMED')
  })
  test('an unknown non-critical extension is ignored', async () => {
    const ext = new x509.Extension('1.3.6.1.4.1.99999.1', false, Uint8Array.of(0x05, 0x00))
    const leaf = await issue({ cn: 'noncrit-leaf', ca: false, notBefore: T0, notAfter: LEAF_NOT_AFTER, extra: [ext] }, pki.bundle[3])
    await expect(verifyAttestation(await chainDoc(pki.bundle, leaf), opts)).resolves.toBeTruthy()
  })
  test('a P-256 leaf key', async () => {
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
    const leaf = await issue({ cn: 'p256-leaf', ca: false, notBefore: T0, notAfter: LEAF_NOT_AFTER }, pki.bundle[3], { keys })
    // the chain is checked before the COSE signature, so a 96-byte placeholder signature will do
    const d = makeDoc(pki.leaf.keys.privateKey, pki, { fields: payloadFields({ bundle: pki.bundle, leaf }) })
    await rejects(d, 'ERR_ATTESTATION_CERTIFICATE_MALFORMED')
  })
  test('a certificate that is not DER', () => rejects(doc((f) => f.set('certificate', new Uint8Array(100).fill(0x30))), 'ERR_ATTESTATION_CERTIFICATE_MALFORMED'))
  test('a certificate with trailing bytes', () =>
    rejects(doc((f) => f.set('certificate', Uint8Array.from([...pki.leaf.der, 0]))), 'ERR_ATTESTATION_CERTIFICATE_MALFORMED'))
})

describe('time', () => {
  test('verification exactly at the leaf notAfter passes; one second later expires', async () => {
    const d = await doc()
    await expect(verifyAttestation(d, { ...opts, at: new Date(LEAF_NOT_AFTER) })).resolves.toBeTruthy()
    await rejects(d, 'ERR_ATTESTATION_CERTIFICATE_EXPIRED', { ...opts, at: new Date(LEAF_NOT_AFTER + 1000) })
    await expect(verifyAttestation(d, { ...opts, at: new Date(LEAF_NOT_AFTER + 1000), clockSkewMs: 1000 })).resolves.toBeTruthy()
  })
  test('an intermediate that expired before the document time', async () => {
    const zonal = await issue({ cn: 'test-zonal', ca: true, pathLen: 1, notAfter: DOC_TIME - 1000 }, pki.bundle[1], { keys: pki.bundle[2].keys })
    await rejects(chainDoc([pki.bundle[0], pki.bundle[1], zonal, pki.bundle[3]], pki.leaf), 'ERR_ATTESTATION_CERTIFICATE_EXPIRED')
  })
  test('one second before the leaf notBefore', () => rejects(doc(), 'ERR_ATTESTATION_CERTIFICATE_NOT_YET_VALID', { ...opts, at: new Date(T0 - 1000) }))
  test('a timestamp before the leaf was issued (validly signed)', () => rejects(doc((f) => f.set('timestamp', T0 - 1)), 'ERR_ATTESTATION_TIMESTAMP'))
  test('a timestamp after the verification time', () => rejects(doc((f) => f.set('timestamp', DOC_TIME + 1)), 'ERR_ATTESTATION_TIMESTAMP'))
  test('maxAgeMs exceeded', () => rejects(doc(), 'ERR_ATTESTATION_STALE', { ...opts, at: new Date(DOC_TIME + 5001), maxAgeMs: 5000 }))
})

describe('policy', () => {
  const zeroPcrs = (idx: number[]) => (f: Map<CborKey, EncodableValue>) => {
    const p = f.get('pcrs') as Map<CborKey, EncodableValue>
    for (const i of idx) p.set(i, new Uint8Array(48))
  }
  test('a debug-mode document (PCR0..2 zero) needs allowDebug', async () => {
    const d = await doc(zeroPcrs([0, 1, 2]))
    await rejects(d, 'ERR_ATTESTATION_DEBUG_MODE')
    await expect(verifyAttestation(d, { ...opts, allowDebug: true })).resolves.toMatchObject({ debug: true })
  })
  test('a single zero PCR among 0..2 counts as debug (fail closed)', () => rejects(doc(zeroPcrs([1])), 'ERR_ATTESTATION_DEBUG_MODE'))
  test('a document without PCR2 counts as debug (fail closed)', () =>
    rejects(
      doc((f) => (f.get('pcrs') as Map<CborKey, EncodableValue>).delete(2)),
      'ERR_ATTESTATION_DEBUG_MODE',
    ))
  test('an expected PCR the document lacks', () => rejects(doc(), 'ERR_ATTESTATION_PCR_MISMATCH', { ...opts, expectedPcrs: { 20: '00'.repeat(48) } }))
  test('expected PCRs as bytes and hex both match', async () => {
    await expect(verifyAttestation(await doc(), { ...opts, expectedPcrs: { 0: new Uint8Array(48).fill(1), 1: '02'.repeat(48) } })).resolves.toBeTruthy()
  })
  test('an all-zero expected PCR is not a wildcard', () => rejects(doc(), 'ERR_ATTESTATION_PCR_MISMATCH', { ...opts, expectedPcrs: { 0: '00'.repeat(48) } }))
  test('an expected nonce when the document has none', () => rejects(doc(), 'ERR_ATTESTATION_NONCE_MISMATCH', { ...opts, nonce: new Uint8Array(0) }))
  test('an expected public key that differs', async () => {
    const { publicKey } = await import('node:crypto').then((c) => c.generateKeyPairSync('ec', { namedCurve: 'P-256' }))
    const spki = publicKey.export({ type: 'spki', format: 'der' })
    const d = await doc((f) => f.set('public_key', new Uint8Array(spki)))
    await expect(verifyAttestation(d, { ...opts, publicKey })).resolves.toMatchObject({ publicKeyDer: new Uint8Array(spki) })
    const other = (await import('node:crypto')).generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey
    await rejects(d, 'ERR_ATTESTATION_PUBLIC_KEY_MISMATCH', { ...opts, publicKey: other })
    await rejects(d, 'ERR_ATTESTATION_PUBLIC_KEY_MISMATCH', { ...opts, publicKey: 'aa' })
  })
})

describe('option misuse is a TypeError, not a document error', () => {
  test.each([
    [{ at: new Date('x') }],
    [{ expectedPcrs: { 0: 'zz' } }],
    [{ expectedPcrs: { 40: '00'.repeat(48) } }],
    // a Map's entries are invisible to Object.entries: accepted, it would check nothing
    [{ expectedPcrs: new Map([[0, 'ff'.repeat(48)]]) }],
    [{ expectedPcrs: 'ff'.repeat(48) }],
    [{ nonce: 'abc' }],
    [{ maxAgeMs: -1 }],
    [{ trustAnchors: [] }],
    [{ trustAnchors: ['not a pem'] }],
    [{ trustAnchors: [new Uint8Array(10)] }],
    [{ cache: {} as VerificationCache }],
  ] as VerifyOptions[][])('%o', async (o) => {
    await expect(verifyAttestation(SEQ.bytes, o)).rejects.toBeInstanceOf(TypeError)
  })
})

async function derHelpers(): Promise<{ signatureToDer: (s: Uint8Array) => Uint8Array }> {
  const int = (b: Uint8Array): number[] => {
    let i = 0
    while (i < b.length - 1 && b[i] === 0) i++
    const v = [...b.subarray(i)]
    return v[0] & 0x80 ? [0, ...v] : v
  }
  return {
    signatureToDer: (s) => {
      const r = int(s.subarray(0, 48))
      const t = int(s.subarray(48))
      const body = [0x02, r.length, ...r, 0x02, t.length, ...t]
      return Uint8Array.from([0x30, body.length, ...body])
    },
  }
}

// keep the tag class referenced for readers: tag 18 documents are built with it in test-ca.ts
void CborTag

describe('trust anchor arrays', () => {
  test('removing an anchor from a reused array stops trusting it', async () => {
    const anchors: (string | Uint8Array)[] = [pki.rootPem]
    const d = await doc()
    await expect(verifyAttestation(d, { ...opts, trustAnchors: anchors })).resolves.toBeTruthy()
    anchors[0] = (await issue({ cn: 'other-root', ca: true })).der
    await rejects(d, 'ERR_ATTESTATION_CHAIN_UNTRUSTED', { ...opts, trustAnchors: anchors })
  })
  test('changing the bytes of a DER anchor in place stops trusting it', async () => {
    const der = new Uint8Array(pki.root.der)
    const anchors = [der]
    const d = await doc()
    await expect(verifyAttestation(d, { ...opts, trustAnchors: anchors })).resolves.toBeTruthy()
    der[der.length - 10] ^= 0x01 // inside the anchor's own signature: still parses, no longer the same certificate
    await rejects(d, 'ERR_ATTESTATION_CHAIN_UNTRUSTED', { ...opts, trustAnchors: anchors })
  })
})
