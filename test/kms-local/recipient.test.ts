// Recipient end to end: NSM-simulator documents and the real sequence-2025-04-04 document through
// the AWS SDK; CiphertextForRecipient opened by enclave-app/cms AND by `openssl cms -decrypt`.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CreateKeyCommand,
  DecryptCommand,
  DeriveSharedSecretCommand,
  DisableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyPairCommand,
  GenerateRandomCommand,
  GetPublicKeyCommand,
  ScheduleKeyDeletionCommand,
  KMSClient,
} from '@aws-sdk/client-kms'
import { silentLogger } from '../../common/log.js'
import { NsmSimulator } from '../../nsm/simulator/index.js'
import { decryptRecipientEnvelope, parseRecipientEnvelope } from '../../enclave-app/cms/index.js'
import { recipientKeyIdentifier } from '../../kms-local/envelope.js'
import type { KmsLocal } from '../../kms-local/index.js'
import { client, failure, opensslDecrypt, start } from './helpers.js'

const PCR0 = 'ab'.repeat(48)
let sim: NsmSimulator
let k: KmsLocal
let c: KMSClient
let keyId: string
const recipientKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
const spki = (key: KeyObject): Buffer => key.export({ type: 'spki', format: 'der' })
let doc: Uint8Array

const recipient = (d: Uint8Array) => ({ AttestationDocument: d, KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' as const })

/** Both independent decryptions of an envelope; they must agree. */
function open(ber: Uint8Array, key: KeyObject = recipientKey.privateKey): Buffer {
  const a = decryptRecipientEnvelope(ber, key)
  const b = opensslDecrypt(ber, key)
  expect(b).toEqual(a)
  return a
}

beforeAll(async () => {
  sim = await NsmSimulator.ephemeral({ pcrs: { 0: PCR0 }, logger: silentLogger })
  k = await start({ trustRoots: [sim.rootCertificatePem] })
  c = client(k)
  keyId = (await c.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
  doc = await sim.attest({ publicKey: spki(recipientKey.publicKey) })
})
afterAll(async () => {
  await k.close()
  await sim.close()
})

describe('Recipient with simulator documents', () => {
  it('GenerateDataKey: no Plaintext; CiphertextForRecipient opens to the data key in the CiphertextBlob', async () => {
    const r = await c.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', Recipient: recipient(doc), EncryptionContext: { e: '1' } }))
    expect(r.Plaintext).toBeUndefined()
    const env = parseRecipientEnvelope(r.CiphertextForRecipient!)
    expect(env.contentEncoding).toBe('chunked')
    expect(env.subjectKeyIdentifier).toEqual(recipientKeyIdentifier(recipientKey.publicKey))
    const dataKey = open(r.CiphertextForRecipient!)
    expect(dataKey).toHaveLength(32)
    const d = await c.send(new DecryptCommand({ CiphertextBlob: r.CiphertextBlob, EncryptionContext: { e: '1' } }))
    expect(Buffer.from(d.Plaintext!)).toEqual(dataKey)
  })

  it('Decrypt: the plaintext only in the envelope, no KeyMaterialId', async () => {
    const e = await c.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('attested secret') }))
    const r = await c.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, Recipient: recipient(doc) }))
    expect(r.Plaintext).toBeUndefined()
    expect(r.KeyMaterialId).toBeUndefined()
    expect(open(r.CiphertextForRecipient!).toString()).toBe('attested secret')
  })

  it('Decrypt of an RSA ENCRYPT_DECRYPT ciphertext with a Recipient', async () => {
    const rsaKey = (await c.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' }))).KeyMetadata!.Arn!
    const e = await c.send(new EncryptCommand({ KeyId: rsaKey, Plaintext: Buffer.from('rsa attested'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }))
    const r = await c.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, KeyId: rsaKey, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256', Recipient: recipient(doc) }))
    expect(r.Plaintext).toBeUndefined()
    expect(open(r.CiphertextForRecipient!).toString()).toBe('rsa attested')
  })

  it('GenerateDataKeyPair: PrivateKeyPlaintext omitted; the envelope holds the PKCS#8 key of PublicKey', async () => {
    const r = await c.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: 'ECC_NIST_P256', Recipient: recipient(doc) }))
    expect(r.PrivateKeyPlaintext).toBeUndefined()
    expect(r.PrivateKeyCiphertextBlob).toBeDefined()
    const pkcs8 = open(r.CiphertextForRecipient!)
    const priv = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
    expect(createPublicKey(priv).export({ type: 'spki', format: 'der' })).toEqual(Buffer.from(r.PublicKey!))
  })

  it('GenerateRandom and DeriveSharedSecret', async () => {
    const r = await c.send(new GenerateRandomCommand({ NumberOfBytes: 64, Recipient: recipient(doc) }))
    expect(r.Plaintext).toBeUndefined()
    expect(open(r.CiphertextForRecipient!)).toHaveLength(64)
    const agree = (await c.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' }))).KeyMetadata!.Arn!
    const peer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    const s = await c.send(new DeriveSharedSecretCommand({ KeyId: agree, KeyAgreementAlgorithm: 'ECDH', PublicKey: spki(peer.publicKey), Recipient: recipient(doc) }))
    expect(s.SharedSecret).toBeUndefined()
    const pub = await c.send(new GetPublicKeyCommand({ KeyId: agree }))
    const { diffieHellman } = await import('node:crypto')
    const local = diffieHellman({ privateKey: peer.privateKey, publicKey: createPublicKey({ key: Buffer.from(pub.PublicKey!), format: 'der', type: 'spki' }) })
    expect(open(s.CiphertextForRecipient!)).toEqual(local)
  })

  it('the envelope does not open with another key (one opaque error)', async () => {
    const r = await c.send(new GenerateRandomCommand({ NumberOfBytes: 16, Recipient: recipient(doc) }))
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    expect(() => decryptRecipientEnvelope(r.CiphertextForRecipient!, other)).toThrow(expect.objectContaining({ code: 'ERR_CMS_DECRYPTION_FAILED' }))
  })

  it('bad documents: ValidationException, never a plaintext answer', async () => {
    const n = Buffer.from(recipientKey.publicKey.export({ format: 'jwk' }).n!, 'base64url')
    const evenN = Buffer.from(n)
    evenN[evenN.length - 1] &= 0xfe
    const rsaSpki = (mod: Buffer, e: Buffer): Buffer =>
      createPublicKey({ key: { kty: 'RSA', n: mod.toString('base64url'), e: e.toString('base64url') }, format: 'jwk' }).export({ type: 'spki', format: 'der' })
    const flipped = Buffer.from(doc)
    flipped[flipped.length - 10] ^= 1
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey
    const rsa3072 = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey
    const cases: [string, Uint8Array][] = [
      ['flipped signature', flipped],
      ['garbage', Buffer.from('not a document')],
      ['truncated', doc.subarray(0, doc.length - 1)],
      ['no public key', await sim.attest({})],
      ['EC public key', await sim.attest({ publicKey: spki(ec) })],
      ['RSA-3072 public key', await sim.attest({ publicKey: spki(rsa3072) })],
    ]
    // RSA-2048 keys node:crypto imports but BoringSSL/AWS-LC refuse: with e = 1 the envelope's
    // content key was readable by anyone; an even modulus made the envelope throw (a 500).
    const weak: [string, Buffer, number[]][] = [['e = 1', n, [1]], ['e = 0', n, [0]], ['e = 2', n, [2]], ['e of 34 bits', n, [2, 0, 0, 0, 1]], ['even modulus', evenN, [1, 0, 1]]]
    for (const [what, mod, e] of weak) cases.push([what, await sim.attest({ publicKey: rsaSpki(mod, Buffer.from(e)) })])
    for (const [what, d] of cases) {
      const f = await failure(c.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', Recipient: recipient(d) })))
      expect({ what, name: f.name }).toEqual({ what, name: 'ValidationException' })
    }
  })

  it('a document from an untrusted root (the AWS-root-only default) is refused', async () => {
    const strict = await start()
    try {
      const cs = client(strict)
      const id = (await cs.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
      const f = await failure(cs.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256', Recipient: recipient(doc) })))
      expect(f.name).toBe('ValidationException')
      expect(f.message).toContain('ERR_ATTESTATION_CHAIN_UNTRUSTED')
    } finally {
      await strict.close()
    }
  })

  it("documents are verified at the service's clock (its now option), as SigV4 is", async () => {
    const past = () => new Date(Date.now() - 5 * 3600_000)
    const old = await NsmSimulator.ephemeral({ logger: silentLogger, now: past })
    const oldDoc = await old.attest({ publicKey: spki(recipientKey.publicKey) })
    const then = await start({ trustRoots: [old.rootCertificatePem, sim.rootCertificatePem], now: past })
    try {
      // a new client per call: the SDK resets its clock offset from the server's (real) Date header
      const cl = (): KMSClient => new KMSClient({ region: then.region, endpoint: then.endpoint, credentials: then.credentials[0], maxAttempts: 1, systemClockOffset: -5 * 3600_000 })
      const id = (await cl().send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
      const r = await cl().send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256', Recipient: recipient(oldDoc) }))
      expect(open(r.CiphertextForRecipient!)).toHaveLength(32)
      // today's document lies in that clock's future
      const e = await failure(cl().send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256', Recipient: recipient(doc) })))
      expect(e.message).toMatch(/ERR_ATTESTATION_(CERTIFICATE_NOT_YET_VALID|TIMESTAMP)/)
    } finally {
      await then.close()
      await old.close()
    }
  })

  it('an expired document (signed 5 hours ago) is refused at now, accepted at its own time when asked', async () => {
    const old = await NsmSimulator.ephemeral({ logger: silentLogger, now: () => new Date(Date.now() - 5 * 3600_000) })
    const oldDoc = await old.attest({ publicKey: spki(recipientKey.publicKey) })
    const strict = await start({ trustRoots: [old.rootCertificatePem] })
    const replay = await start({ trustRoots: [old.rootCertificatePem], verifyAtDocumentTime: true })
    try {
      for (const [kl, ok] of [[strict, false], [replay, true]] as const) {
        const cl = client(kl)
        const id = (await cl.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
        const p = cl.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256', Recipient: recipient(oldDoc) }))
        if (ok) expect(open((await p).CiphertextForRecipient!)).toHaveLength(32)
        else expect((await failure(p)).message).toMatch(/ERR_ATTESTATION_CERTIFICATE_EXPIRED|ERR_ATTESTATION_TIMESTAMP/)
      }
    } finally {
      await strict.close()
      await replay.close()
      await old.close()
    }
  })

  it('Recipient on GenerateDataKey with a disabled key or DryRun gives the KMS error, not an envelope', async () => {
    const f = await failure(c.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', Recipient: recipient(doc), DryRun: true })))
    expect(f.name).toBe('DryRunOperationException')
    // The title's other half: a disabled and a pending-deletion key (it was never tested).
    const k2 = (await c.send(new CreateKeyCommand({}))).KeyMetadata!
    const blob = (await c.send(new EncryptCommand({ KeyId: k2.KeyId, Plaintext: Buffer.from('x') }))).CiphertextBlob
    await c.send(new DisableKeyCommand({ KeyId: k2.KeyId }))
    for (const state of ['disabled', 'pending deletion']) {
      for (const p of [
        c.send(new GenerateDataKeyCommand({ KeyId: k2.KeyId, KeySpec: 'AES_256', Recipient: recipient(doc) })),
        c.send(new DecryptCommand({ CiphertextBlob: blob, Recipient: recipient(doc) })),
        c.send(new GenerateDataKeyPairCommand({ KeyId: k2.KeyId, KeyPairSpec: 'ECC_NIST_P256', Recipient: recipient(doc) })),
      ]) {
        const e = await failure(p)
        expect({ state, name: e.name, message: e.message }).toEqual({ state, ...(state === 'disabled' ? { name: 'DisabledException', message: `${k2.Arn} is disabled.` } : { name: 'KMSInvalidStateException', message: `${k2.Arn} is pending deletion.` }) })
      }
      if (state === 'disabled') await c.send(new ScheduleKeyDeletionCommand({ KeyId: k2.KeyId, PendingWindowInDays: 7 }))
    }
  })
})

describe('key policy conditions on kms:RecipientAttestation:*', () => {
  const attested = (extra: object[]) =>
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'admin', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' },
        ...extra,
      ],
    })
  const ops = ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:GenerateDataKeyPair', 'kms:GenerateRandom', 'kms:DeriveSharedSecret']

  it('Deny + Null: calls without an attested Recipient are refused; with one they pass', async () => {
    const id = (
      await c.send(new CreateKeyCommand({ Policy: attested([{ Effect: 'Deny', Principal: '*', Action: ops, Resource: '*', Condition: { Null: { 'kms:RecipientAttestation:ImageSha384': 'true' } } }]) }))
    ).KeyMetadata!.KeyId!
    const f = await failure(c.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256' })))
    expect(f.name).toBe('AccessDeniedException')
    expect(f.message).toContain('with an explicit deny in a resource-based policy')
    const r = await c.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256', Recipient: recipient(doc) }))
    expect(open(r.CiphertextForRecipient!)).toHaveLength(32)
  })

  it('StringEqualsIgnoreCase on ImageSha384 / StringEquals on PCR0: matching passes, other enclaves are refused', async () => {
    for (const [op, key, value] of [
      ['StringEqualsIgnoreCase', 'kms:RecipientAttestation:ImageSha384', PCR0.toUpperCase()],
      ['StringEquals', 'kms:RecipientAttestation:PCR0', PCR0],
    ] as const) {
      const policy = attested([{ Effect: 'Deny', Principal: '*', Action: ops, Resource: '*', Condition: { [op.replace('Equals', 'NotEquals')]: { [key]: value } } }])
      const id = (await c.send(new CreateKeyCommand({ Policy: policy }))).KeyMetadata!.KeyId!
      const r = await c.send(new GenerateDataKeyPairCommand({ KeyId: id, KeyPairSpec: 'RSA_2048', Recipient: recipient(doc) }))
      expect(open(r.CiphertextForRecipient!).length).toBeGreaterThan(1000)
      const otherSim = await NsmSimulator.ephemeral({ pcrs: { 0: 'cd'.repeat(48) }, logger: silentLogger })
      const kl = await start({ trustRoots: [sim.rootCertificatePem, otherSim.rootCertificatePem] })
      try {
        const cl = client(kl)
        const id2 = (await cl.send(new CreateKeyCommand({ Policy: policy }))).KeyMetadata!.KeyId!
        const otherDoc = await otherSim.attest({ publicKey: spki(recipientKey.publicKey) })
        const f = await failure(cl.send(new GenerateDataKeyPairCommand({ KeyId: id2, KeyPairSpec: 'RSA_2048', Recipient: recipient(otherDoc) })))
        expect(f.name).toBe('AccessDeniedException')
        expect(f.message).toContain('kms:GenerateDataKeyPair')
        // IAM: a negated operator on an absent key is true, so the Deny also covers calls without Recipient.
        expect((await failure(cl.send(new GenerateDataKeyPairCommand({ KeyId: id2, KeyPairSpec: 'ECC_NIST_P256' })))).name).toBe('AccessDeniedException')
      } finally {
        await kl.close()
        await otherSim.close()
      }
    }
  })

  it('Allow only with a PCR condition: a debug-mode document (all-zero PCRs) is refused', async () => {
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, NotAction: ops, Resource: '*' },
        { Effect: 'Allow', Principal: { AWS: '111122223333' }, Action: ops, Resource: '*', Condition: { StringEqualsIgnoreCase: { 'kms:RecipientAttestation:PCR0': PCR0 } } },
      ],
    })
    const debugSim = await NsmSimulator.ephemeral({ debug: true, logger: silentLogger })
    const kl = await start({ trustRoots: [sim.rootCertificatePem, debugSim.rootCertificatePem] })
    try {
      const cl = client(kl)
      const id = (await cl.send(new CreateKeyCommand({ Policy: policy }))).KeyMetadata!.KeyId!
      const debugDoc = await debugSim.attest({ publicKey: spki(recipientKey.publicKey) })
      let f = await failure(cl.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256', Recipient: recipient(debugDoc) })))
      expect(f.name).toBe('AccessDeniedException')
      expect(f.message).toContain('because no resource-based policy allows the kms:GenerateDataKey action')
      f = await failure(cl.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256' })))
      expect(f.name).toBe('AccessDeniedException')
      const r = await cl.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256', Recipient: recipient(doc) }))
      expect(open(r.CiphertextForRecipient!)).toHaveLength(32)
      // With the default policy KMS accepts a debug document (the policy is the gate, not the verifier).
      const plain = (await cl.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
      expect(open((await cl.send(new GenerateDataKeyCommand({ KeyId: plain, KeySpec: 'AES_256', Recipient: recipient(debugDoc) }))).CiphertextForRecipient!)).toHaveLength(32)
    } finally {
      await kl.close()
      await debugSim.close()
    }
  })
})

describe('Recipient with the real sequence-2025-04-04 document (AWS root, RSA-2048 key)', () => {
  const real = readFileSync(new URL('../fixtures/attestation/sequence-2025-04-04.cbor', import.meta.url))
  const realPcr0 = '73934ebd95cac683b96ceb064acda3f0c73f2e11bebc702ed4aa271cd47a08973165df31fc138a204642d554ee2508ec'

  it('verified at its own timestamp: accepted, and the envelope parses (its private key is not available)', async () => {
    const kl = await start({ verifyAtDocumentTime: true })
    try {
      const cl = client(kl)
      const policy = JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' },
          { Effect: 'Deny', Principal: '*', Action: 'kms:GenerateDataKey', Resource: '*', Condition: { StringNotEqualsIgnoreCase: { 'kms:RecipientAttestation:ImageSha384': realPcr0.toUpperCase() } } },
        ],
      })
      const id = (await cl.send(new CreateKeyCommand({ Policy: policy }))).KeyMetadata!.KeyId!
      const r = await cl.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256', Recipient: recipient(real) }))
      expect(r.Plaintext).toBeUndefined()
      const env = parseRecipientEnvelope(r.CiphertextForRecipient!)
      expect(env.encryptedKey).toHaveLength(256)
      expect(env.ciphertext).toHaveLength(48)
      // The envelope is addressed to the document's key.
      const { decodeAttestationDocument } = await import('../../attestation/index.js')
      const docKey = createPublicKey({ key: Buffer.from(decodeAttestationDocument(real).publicKey!), format: 'der', type: 'spki' })
      expect(env.subjectKeyIdentifier).toEqual(recipientKeyIdentifier(docKey))
      expect(() => decryptRecipientEnvelope(r.CiphertextForRecipient!, recipientKey.privateKey)).toThrow(expect.objectContaining({ code: 'ERR_CMS_DECRYPTION_FAILED' }))
    } finally {
      await kl.close()
    }
  })

  it('verified now (the default): refused as expired', async () => {
    const kl = await start()
    try {
      const cl = client(kl)
      const id = (await cl.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
      const f = await failure(cl.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256', Recipient: recipient(real) })))
      expect(f.name).toBe('ValidationException')
      expect(f.message).toContain('ERR_ATTESTATION_CERTIFICATE_EXPIRED')
    } finally {
      await kl.close()
    }
  })

  it('a real NitroTPM document (EC attestation key, no RSA-2048 key) is refused', async () => {
    const kl = await start({ verifyAtDocumentTime: true })
    try {
      const cl = client(kl)
      const id = (await cl.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
      const tpm = readFileSync(new URL('../fixtures/attestation/vaportpm-nitrotpm-2026-02-03.cbor', import.meta.url))
      const f = await failure(cl.send(new GenerateRandomCommand({ NumberOfBytes: 8, Recipient: recipient(tpm) })))
      expect(f).toMatchObject({ name: 'ValidationException', message: 'The attestation document must include an RSA-2048 public key encoded as a DER SubjectPublicKeyInfo.' })
      void id
    } finally {
      await kl.close()
    }
  })
})
