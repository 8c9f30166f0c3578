// Every operation through the real @aws-sdk/client-kms against kms-local on an ephemeral port.
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, verify } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  DeriveSharedSecretCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyPairCommand,
  GenerateDataKeyPairWithoutPlaintextCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateRandomCommand,
  GetKeyPolicyCommand,
  GetPublicKeyCommand,
  ListAliasesCommand,
  ListKeysCommand,
  PutKeyPolicyCommand,
  ReEncryptCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  VerifyCommand,
  type DataKeyPairSpec,
  type KMSClient,
} from '@aws-sdk/client-kms'
import type { KmsLocal } from '../../kms-local/index.js'
import { client, failure, signedPost, start } from './helpers.js'

let k: KmsLocal
let c: KMSClient
let other: KMSClient
let keyId: string
let keyArn: string

beforeAll(async () => {
  k = await start()
  c = client(k)
  other = client(k, 1)
  const r = await c.send(new CreateKeyCommand({ Description: 'main' }))
  keyId = r.KeyMetadata!.KeyId!
  keyArn = r.KeyMetadata!.Arn!
  await c.send(new CreateAliasCommand({ AliasName: 'alias/main', TargetKeyId: keyId }))
})
afterAll(async () => k.close())

async function newKey(input: ConstructorParameters<typeof CreateKeyCommand>[0] = {}): Promise<{ id: string; arn: string }> {
  const r = await c.send(new CreateKeyCommand(input))
  return { id: r.KeyMetadata!.KeyId!, arn: r.KeyMetadata!.Arn! }
}

describe('key management', () => {
  it('CreateKey returns KMS-shaped KeyMetadata', async () => {
    const r = await c.send(new CreateKeyCommand({ Description: 'd', Tags: [{ TagKey: 't', TagValue: 'v' }] }))
    const m = r.KeyMetadata!
    expect(m.KeyId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    expect(m.Arn).toBe(`arn:aws:kms:us-east-1:111122223333:key/${m.KeyId}`)
    expect(m).toMatchObject({ AWSAccountId: '111122223333', Enabled: true, Description: 'd', KeyUsage: 'ENCRYPT_DECRYPT', KeyState: 'Enabled', Origin: 'AWS_KMS', KeyManager: 'CUSTOMER', KeySpec: 'SYMMETRIC_DEFAULT', EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'], MultiRegion: false })
    expect(m.CreationDate).toBeInstanceOf(Date)
    expect(Math.abs(m.CreationDate!.getTime() - Date.now())).toBeLessThan(120_000)
  })

  it('DescribeKey by key ID, key ARN, alias name and alias ARN', async () => {
    for (const id of [keyId, keyArn, 'alias/main', 'arn:aws:kms:us-east-1:111122223333:alias/main']) {
      const r = await c.send(new DescribeKeyCommand({ KeyId: id }))
      expect(r.KeyMetadata!.KeyId).toBe(keyId)
    }
  })

  it('NotFoundException with KMS messages', async () => {
    const missing = '00000000-0000-4000-8000-000000000000'
    let e = await failure(c.send(new DescribeKeyCommand({ KeyId: missing })))
    expect(e.name).toBe('NotFoundException')
    expect(e.message).toBe(`Key 'arn:aws:kms:us-east-1:111122223333:key/${missing}' does not exist`)
    e = await failure(c.send(new DescribeKeyCommand({ KeyId: 'fake-key-id' })))
    expect(e).toMatchObject({ name: 'NotFoundException', message: "Invalid keyId 'fake-key-id'" })
    e = await failure(c.send(new DescribeKeyCommand({ KeyId: 'alias/nope' })))
    expect(e).toMatchObject({ name: 'NotFoundException', message: "Alias 'arn:aws:kms:us-east-1:111122223333:alias/nope' is not found." })
    expect(e.$metadata.httpStatusCode).toBe(400)
    expect(e.$fault).toBe('client')
  })

  it('ListKeys paginates with an opaque marker; a forged marker is InvalidMarkerException', async () => {
    const all = await c.send(new ListKeysCommand({}))
    expect(all.Keys!.some((x) => x.KeyId === keyId && x.KeyArn === keyArn)).toBe(true)
    const seen: string[] = []
    let marker: string | undefined
    do {
      const p = await c.send(new ListKeysCommand({ Limit: 1, Marker: marker }))
      expect(p.Keys).toHaveLength(1)
      seen.push(p.Keys![0].KeyId!)
      marker = p.Truncated ? p.NextMarker : undefined
    } while (marker)
    expect(seen.sort()).toEqual(all.Keys!.map((x) => x.KeyId!).sort())
    expect((await failure(c.send(new ListKeysCommand({ Marker: '!!' })))).name).toBe('InvalidMarkerException')
    // The other account sees none of these keys.
    const o = await other.send(new ListKeysCommand({}))
    expect(o.Keys!.some((x) => x.KeyId === keyId)).toBe(false)
  })

  it('DisableKey / EnableKey / ScheduleKeyDeletion / CancelKeyDeletion state machine', async () => {
    const { id, arn } = await newKey()
    await c.send(new DisableKeyCommand({ KeyId: id }))
    expect((await c.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata).toMatchObject({ Enabled: false, KeyState: 'Disabled' })
    let e = await failure(c.send(new EncryptCommand({ KeyId: id, Plaintext: Buffer.from('x') })))
    expect(e).toMatchObject({ name: 'DisabledException', message: `${arn} is disabled.` })
    await c.send(new EnableKeyCommand({ KeyId: arn }))
    await c.send(new EncryptCommand({ KeyId: id, Plaintext: Buffer.from('x') }))
    e = await failure(c.send(new ScheduleKeyDeletionCommand({ KeyId: id, PendingWindowInDays: 6 })))
    expect(e.name).toBe('ValidationException')
    const s = await c.send(new ScheduleKeyDeletionCommand({ KeyId: id, PendingWindowInDays: 7 }))
    expect(s).toMatchObject({ KeyId: arn, KeyState: 'PendingDeletion', PendingWindowInDays: 7 })
    expect(s.DeletionDate!.getTime() - Date.now()).toBeGreaterThan(6.9 * 86_400_000)
    e = await failure(c.send(new EncryptCommand({ KeyId: id, Plaintext: Buffer.from('x') })))
    expect(e).toMatchObject({ name: 'KMSInvalidStateException', message: `${arn} is pending deletion.` })
    expect((await failure(c.send(new EnableKeyCommand({ KeyId: id })))).name).toBe('KMSInvalidStateException')
    expect((await failure(c.send(new ScheduleKeyDeletionCommand({ KeyId: id })))).name).toBe('KMSInvalidStateException')
    expect((await c.send(new CancelKeyDeletionCommand({ KeyId: id }))).KeyId).toBe(arn)
    // As KMS: a cancelled deletion leaves the key Disabled.
    expect((await c.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata!.KeyState).toBe('Disabled')
    expect((await failure(c.send(new CancelKeyDeletionCommand({ KeyId: id })))).name).toBe('KMSInvalidStateException')
    // Management operations take key ID or ARN, not aliases.
    expect((await failure(c.send(new DisableKeyCommand({ KeyId: 'alias/main' })))).name).toBe('NotFoundException')
  })
})

describe('aliases', () => {
  it('CreateAlias, duplicates, reserved names, ListAliases filter, DeleteAlias', async () => {
    const { id } = await newKey()
    await c.send(new CreateAliasCommand({ AliasName: 'alias/a1', TargetKeyId: id }))
    let e = await failure(c.send(new CreateAliasCommand({ AliasName: 'alias/a1', TargetKeyId: keyId })))
    expect(e).toMatchObject({ name: 'AlreadyExistsException', message: 'An alias with the name arn:aws:kms:us-east-1:111122223333:alias/a1 already exists' })
    e = await failure(c.send(new CreateAliasCommand({ AliasName: 'alias/aws/x', TargetKeyId: id })))
    expect(e.name).toBe('InvalidAliasNameException')
    e = await failure(c.send(new CreateAliasCommand({ AliasName: 'nope', TargetKeyId: id })))
    expect(e.name).toBe('ValidationException')
    const l = await c.send(new ListAliasesCommand({ KeyId: id }))
    expect(l.Aliases).toHaveLength(1)
    expect(l.Aliases![0]).toMatchObject({ AliasName: 'alias/a1', AliasArn: 'arn:aws:kms:us-east-1:111122223333:alias/a1', TargetKeyId: id })
    expect(l.Aliases![0].CreationDate).toBeInstanceOf(Date)
    await c.send(new DeleteAliasCommand({ AliasName: 'alias/a1' }))
    expect((await failure(c.send(new DeleteAliasCommand({ AliasName: 'alias/a1' })))).name).toBe('NotFoundException')
    expect((await failure(c.send(new DescribeKeyCommand({ KeyId: 'alias/a1' })))).name).toBe('NotFoundException')
  })

  it('alias names are per account: the other account cannot resolve alias/main by name', async () => {
    const e = await failure(other.send(new DescribeKeyCommand({ KeyId: 'alias/main' })))
    expect(e).toMatchObject({ name: 'NotFoundException', message: "Alias 'arn:aws:kms:us-east-1:444455556666:alias/main' is not found." })
  })
})

describe('symmetric encryption and the encryption context', () => {
  it('Encrypt/Decrypt round trip without KeyId; KeyId in the response is the ARN', async () => {
    const e = await c.send(new EncryptCommand({ KeyId: 'alias/main', Plaintext: Buffer.from('hello'), EncryptionContext: { purpose: 'test', n: '1' } }))
    expect(e.KeyId).toBe(keyArn)
    expect(e.EncryptionAlgorithm).toBe('SYMMETRIC_DEFAULT')
    const d = await c.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, EncryptionContext: { n: '1', purpose: 'test' } }))
    expect(Buffer.from(d.Plaintext!).toString()).toBe('hello')
    expect(d.KeyId).toBe(keyArn)
    expect(d.KeyMaterialId).toMatch(/^[0-9a-f]{64}$/)
  })

  it('a missing, extra, different or colliding context is InvalidCiphertextException without a message', async () => {
    const e = await c.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('s'), EncryptionContext: { ab: 'c' } }))
    const contexts: (Record<string, string> | undefined)[] = [undefined, { ab: 'c', x: 'y' }, { ab: 'C' }, { AB: 'c' }, { a: 'bc' }]
    for (const ctx of contexts) {
      const f = await failure(c.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, EncryptionContext: ctx })))
      expect(f.name).toBe('InvalidCiphertextException')
      // No message on the wire: the SDK says UnknownError.
      expect(f.message).toBe('UnknownError')
      expect(f.$metadata.httpStatusCode).toBe(400)
    }
  })

  it('a flipped bit anywhere, a truncated blob or garbage is InvalidCiphertextException', async () => {
    const e = await c.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('secret data') }))
    const blob = Buffer.from(e.CiphertextBlob!)
    for (const at of [0, 3, 10, 19, 25, 40, blob.length - 1]) {
      const b = Buffer.from(blob)
      b[at] ^= 1
      expect((await failure(c.send(new DecryptCommand({ CiphertextBlob: b })))).name).toBe('InvalidCiphertextException')
    }
    expect((await failure(c.send(new DecryptCommand({ CiphertextBlob: blob.subarray(0, 30) })))).name).toBe('InvalidCiphertextException')
    expect((await failure(c.send(new DecryptCommand({ CiphertextBlob: Buffer.from('garbage') })))).name).toBe('InvalidCiphertextException')
  })

  it('Decrypt with the KeyId of another key is IncorrectKeyException', async () => {
    const { id } = await newKey()
    const e = await c.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }))
    const f = await failure(c.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, KeyId: id })))
    expect(f).toMatchObject({ name: 'IncorrectKeyException', message: 'The key ID in the request does not identify a CMK that can perform this operation.' })
    const ok = await c.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, KeyId: 'alias/main' }))
    expect(Buffer.from(ok.Plaintext!).toString()).toBe('x')
  })

  it('ReEncrypt moves a ciphertext to another key and context', async () => {
    const { id, arn } = await newKey()
    const e = await c.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('move me'), EncryptionContext: { a: '1' } }))
    const r = await c.send(new ReEncryptCommand({ CiphertextBlob: e.CiphertextBlob, SourceEncryptionContext: { a: '1' }, DestinationKeyId: id, DestinationEncryptionContext: { b: '2' } }))
    expect(r).toMatchObject({ SourceKeyId: keyArn, KeyId: arn })
    const d = await c.send(new DecryptCommand({ CiphertextBlob: r.CiphertextBlob, EncryptionContext: { b: '2' } }))
    expect(Buffer.from(d.Plaintext!).toString()).toBe('move me')
    expect((await failure(c.send(new ReEncryptCommand({ CiphertextBlob: e.CiphertextBlob, DestinationKeyId: id })))).name).toBe('InvalidCiphertextException')
  })

  it('GenerateDataKey: KeySpec, NumberOfBytes, both, neither, range', async () => {
    const a = await c.send(new GenerateDataKeyCommand({ KeyId: 'alias/main', KeySpec: 'AES_128', EncryptionContext: { k: 'v' } }))
    expect(a.Plaintext).toHaveLength(16)
    expect(a.KeyId).toBe(keyArn)
    const d = await c.send(new DecryptCommand({ CiphertextBlob: a.CiphertextBlob, EncryptionContext: { k: 'v' } }))
    expect(Buffer.from(d.Plaintext!)).toEqual(Buffer.from(a.Plaintext!))
    expect((await c.send(new GenerateDataKeyCommand({ KeyId: keyId, NumberOfBytes: 1024 }))).Plaintext).toHaveLength(1024)
    let f = await failure(c.send(new GenerateDataKeyCommand({ KeyId: keyId })))
    expect(f).toMatchObject({ name: 'ValidationException', message: 'Please specify either number of bytes or key spec.' })
    f = await failure(c.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', NumberOfBytes: 32 })))
    expect(f.name).toBe('ValidationException')
    f = await failure(c.send(new GenerateDataKeyCommand({ KeyId: keyId, NumberOfBytes: 1025 })))
    expect(f.message).toBe("1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024")
  })

  it('GenerateDataKeyWithoutPlaintext returns no Plaintext', async () => {
    const r = await c.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: keyId, KeySpec: 'AES_256' }))
    // On the wire: the SDK drops members its output shape lacks, so `r` alone could never show a leak.
    const raw = await signedPost(k, JSON.stringify({ KeyId: keyId, KeySpec: 'AES_256' }), { target: 'GenerateDataKeyWithoutPlaintext' })
    expect(Object.keys(raw.json).sort()).toEqual(['CiphertextBlob', 'KeyId', 'KeyMaterialId'])
    expect((await c.send(new DecryptCommand({ CiphertextBlob: r.CiphertextBlob }))).Plaintext).toHaveLength(32)
  })

  it('DryRun: the KMS error when it would succeed, the real error when it would not', async () => {
    let f = await failure(c.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), DryRun: true })))
    expect(f).toMatchObject({ name: 'DryRunOperationException', message: 'The request would have succeeded, but the DryRun option is set.' })
    expect(f.$metadata.httpStatusCode).toBe(400)
    const e = await c.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }))
    f = await failure(c.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, DryRun: true })))
    expect(f.name).toBe('DryRunOperationException')
    f = await failure(c.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, DryRun: true, EncryptionContext: { wrong: '1' } })))
    expect(f.name).toBe('InvalidCiphertextException')
    f = await failure(c.send(new DecryptCommand({ CiphertextBlob: Buffer.from('junk'), KeyId: keyId, DryRun: true, DryRunModifiers: ['IGNORE_CIPHERTEXT'] })))
    expect(f.name).toBe('DryRunOperationException')
    f = await failure(c.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', DryRun: true })))
    expect(f.name).toBe('DryRunOperationException')
  })
})

describe('GenerateDataKeyPair (the seed contract)', () => {
  const specs: [DataKeyPairSpec, string, number | string][] = [
    ['RSA_2048', 'rsa', 2048],
    ['RSA_3072', 'rsa', 3072],
    ['RSA_4096', 'rsa', 4096],
    ['ECC_NIST_P256', 'ec', 'prime256v1'],
    ['ECC_NIST_P384', 'ec', 'secp384r1'],
    ['ECC_NIST_P521', 'ec', 'secp521r1'],
    ['ECC_SECG_P256K1', 'ec', 'secp256k1'],
    ['ECC_NIST_EDWARDS25519', 'ed25519', ''],
  ]
  for (const [spec, type, detail] of specs) {
    it(`${spec}: DER SPKI public key, DER PKCS#8 private key, matching, encrypted copy decrypts to the same`, async () => {
      const r = await c.send(new GenerateDataKeyPairCommand({ KeyId: 'alias/main', KeyPairSpec: spec, EncryptionContext: { s: spec } }))
      expect(r).toMatchObject({ KeyId: keyArn, KeyPairSpec: spec })
      expect(r.KeyMaterialId).toMatch(/^[0-9a-f]{64}$/)
      const pub = createPublicKey({ key: Buffer.from(r.PublicKey!), format: 'der', type: 'spki' })
      const priv = createPrivateKey({ key: Buffer.from(r.PrivateKeyPlaintext!), format: 'der', type: 'pkcs8' })
      expect(pub.asymmetricKeyType).toBe(type)
      if (type === 'rsa') expect(pub.asymmetricKeyDetails!.modulusLength).toBe(detail)
      if (type === 'ec') expect(pub.asymmetricKeyDetails!.namedCurve).toBe(detail)
      expect(createPublicKey(priv).export({ type: 'spki', format: 'der' })).toEqual(Buffer.from(r.PublicKey!))
      const d = await c.send(new DecryptCommand({ CiphertextBlob: r.PrivateKeyCiphertextBlob, EncryptionContext: { s: spec } }))
      expect(Buffer.from(d.Plaintext!)).toEqual(Buffer.from(r.PrivateKeyPlaintext!))
    })
  }

  it('each call returns a fresh, unrelated pair', async () => {
    const a = await c.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: 'ECC_NIST_P256' }))
    const b = await c.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: 'ECC_NIST_P256' }))
    expect(Buffer.from(a.PublicKey!)).not.toEqual(Buffer.from(b.PublicKey!))
    expect(Buffer.from(a.PrivateKeyPlaintext!)).not.toEqual(Buffer.from(b.PrivateKeyPlaintext!))
    expect(Buffer.from(a.PrivateKeyCiphertextBlob!)).not.toEqual(Buffer.from(b.PrivateKeyCiphertextBlob!))
  })

  it('KeyId by key ID, key ARN, alias name and alias ARN', async () => {
    for (const id of [keyId, keyArn, 'alias/main', 'arn:aws:kms:us-east-1:111122223333:alias/main']) {
      expect((await c.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: id, KeyPairSpec: 'ECC_NIST_P256' }))).KeyId).toBe(keyArn)
    }
  })

  it('WithoutPlaintext: no PrivateKeyPlaintext; the ciphertext decrypts to a PKCS#8 key matching PublicKey', async () => {
    const r = await c.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: keyId, KeyPairSpec: 'RSA_2048' }))
    // On the wire (the SDK would drop a PrivateKeyPlaintext its output shape lacks).
    const raw = await signedPost(k, JSON.stringify({ KeyId: keyId, KeyPairSpec: 'ECC_NIST_P256' }), { target: 'GenerateDataKeyPairWithoutPlaintext' })
    expect(Object.keys(raw.json).sort()).toEqual(['KeyId', 'KeyMaterialId', 'KeyPairSpec', 'PrivateKeyCiphertextBlob', 'PublicKey'])
    const d = await c.send(new DecryptCommand({ CiphertextBlob: r.PrivateKeyCiphertextBlob }))
    const priv = createPrivateKey({ key: Buffer.from(d.Plaintext!), format: 'der', type: 'pkcs8' })
    expect(createPublicKey(priv).export({ type: 'spki', format: 'der' })).toEqual(Buffer.from(r.PublicKey!))
  })

  it('the listed exceptions, each where its condition arises', async () => {
    const asym = await newKey({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' })
    let f = await failure(c.send(new GenerateDataKeyPairCommand({ KeyId: asym.id, KeyPairSpec: 'RSA_2048' })))
    expect(f).toMatchObject({ name: 'InvalidKeyUsageException', message: `${asym.arn} key usage is SIGN_VERIFY which is not valid for GenerateDataKeyPair.` })
    f = await failure(c.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: 'SM2' })))
    expect(f.name).toBe('UnsupportedOperationException')
    f = await failure(c.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: 'RSA_2048', DryRun: true })))
    expect(f).toMatchObject({ name: 'DryRunOperationException', message: 'The request would have succeeded, but the DryRun option is set.' })
    f = await failure(c.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: 'SM2', DryRun: true })))
    expect(f.name).toBe('UnsupportedOperationException')
    f = await failure(c.send(new GenerateDataKeyPairCommand({ KeyId: 'alias/none', KeyPairSpec: 'RSA_2048' })))
    expect(f.name).toBe('NotFoundException')
    f = await failure(c.send(new GenerateDataKeyPairCommand({ KeyId: '11111111-2222-4333-8444-555555555555', KeyPairSpec: 'RSA_2048' })))
    expect(f.name).toBe('NotFoundException')
    f = await failure(c.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: 'RSA_1024' as DataKeyPairSpec })))
    expect(f.name).toBe('ValidationException')
    await c.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: 'ECC_NIST_P256', GrantTokens: ['AQpAM2RhZTk1MGMyNTk2ZmZmMzEyYWVhOWViN2I1MWM4Mzc0MWFiYjc0ZDE1ODkyNGFlNTIzODZhMzgyZjBlNGY3NiKIAgEBAgB4Pa6VDCWW__MSrqnre1HIN0Grt00ViSSuUjhqOC8OT3YAAADfMIHcBgkqhkiG9w0BBwaggc4wgcsCAQAwgcUGCSqGSIb3DQEHATAeBglghkgBZQMEAS4wEQQMnYnGQBqrCeXS9Ix0AgEQgIGXCXzdAGGvAjhyOgKkLxtMZUx9ghkdgVtKEcPx7RR_cINuzdnBkBQsBx2Cu6DUxCtJ73tR5Uj5Dkc7D3U7x6aNH2fRPx3ZvyvV5FyRIkYnkoW16Xvl1TaupUK8QWfLYvEYh5u9ERSc2dUv4z1q4mjRsybUWhXNvNXnfQ7wbsvgDuxqfUNlVjDTNVUIfmtSvc6ZJnhQMwtSr6bZkIdUvnY8s8-0Ck5nKz4vj6KRCkkodMDPcJJQimXgD_xm57oG3c_JOKrnz3zBtGEhhFlNGGoyUNUsUVuRDRiR3aZG_O9LKGDmGE5ISJdOsrKIEl2o5R6kPqbU3v2_Tk9rYfEgWXc38cAeTSRoLIqWxsngkB5R1KttBj2dAIRqajsvzdSGtuBNWQhx4crtHgKf3v8WSI7mhnp5uoHr62mR31n5tbtAU7VTOFIU1q4YPN0ApAqjvYkAMGZ_O7ZuE2yiiymBsNXk_jLpWmaFmcjqzeF82HEIhPCvfWDw6N2h-OPlS1ZHm_DyZgqTKSuWnIHrA'] }))
    f = await failure(c.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: 'ECC_NIST_P256', GrantTokens: ['not a token!'] })))
    expect(f.name).toBe('InvalidGrantTokenException')
    f = await failure(c.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: 'ECC_NIST_P256', GrantTokens: Array(11).fill('abc') })))
    expect(f.name).toBe('ValidationException')

    const { id, arn } = await newKey()
    await c.send(new DisableKeyCommand({ KeyId: id }))
    f = await failure(c.send(new GenerateDataKeyPairCommand({ KeyId: id, KeyPairSpec: 'RSA_2048' })))
    expect(f).toMatchObject({ name: 'DisabledException', message: `${arn} is disabled.` })
    await c.send(new ScheduleKeyDeletionCommand({ KeyId: id, PendingWindowInDays: 7 }))
    f = await failure(c.send(new GenerateDataKeyPairCommand({ KeyId: id, KeyPairSpec: 'RSA_2048' })))
    expect(f).toMatchObject({ name: 'KMSInvalidStateException', message: `${arn} is pending deletion.` })
  })

  it("another account's key only by ARN, and only when its key policy allows it", async () => {
    // By alias name or key ID, the other account means its own namespace.
    let f = await failure(other.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: 'ECC_NIST_P256' })))
    expect(f.name).toBe('NotFoundException')
    f = await failure(other.send(new GenerateDataKeyPairCommand({ KeyId: keyArn, KeyPairSpec: 'ECC_NIST_P256' })))
    expect(f.name).toBe('AccessDeniedException')
    expect(f.message).toBe(`User: arn:aws:iam::444455556666:user/kms-local-dev-other-account is not authorized to perform: kms:GenerateDataKeyPair on resource: ${keyArn} because no resource-based policy allows the kms:GenerateDataKeyPair action`)
    const { id, arn } = await newKey({
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' },
          { Effect: 'Allow', Principal: { AWS: '444455556666' }, Action: ['kms:GenerateDataKeyPair*', 'kms:Decrypt'], Resource: '*' },
        ],
      }),
    })
    await c.send(new CreateAliasCommand({ AliasName: 'alias/shared', TargetKeyId: id }))
    const r = await other.send(new GenerateDataKeyPairCommand({ KeyId: arn, KeyPairSpec: 'ECC_NIST_P256' }))
    expect(r.KeyId).toBe(arn)
    const r2 = await other.send(new GenerateDataKeyPairCommand({ KeyId: 'arn:aws:kms:us-east-1:111122223333:alias/shared', KeyPairSpec: 'ECC_NIST_P256' }))
    expect(r2.KeyId).toBe(arn)
    expect((await failure(other.send(new GenerateDataKeyPairCommand({ KeyId: 'alias/shared', KeyPairSpec: 'ECC_NIST_P256' })))).name).toBe('NotFoundException')
    expect((await failure(other.send(new GenerateDataKeyPairCommand({ KeyId: id, KeyPairSpec: 'ECC_NIST_P256' })))).name).toBe('NotFoundException')
  })
})

describe('GenerateRandom', () => {
  it('bytes, and KMS validation messages', async () => {
    const a = await c.send(new GenerateRandomCommand({ NumberOfBytes: 32 }))
    const b = await c.send(new GenerateRandomCommand({ NumberOfBytes: 32 }))
    expect(a.Plaintext).toHaveLength(32)
    expect(Buffer.from(a.Plaintext!)).not.toEqual(Buffer.from(b.Plaintext!))
    expect((await failure(c.send(new GenerateRandomCommand({})))).message).toBe('NumberOfBytes is required.')
    expect((await failure(c.send(new GenerateRandomCommand({ NumberOfBytes: 0 })))).message).toBe(
      "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1",
    )
    expect((await failure(c.send(new GenerateRandomCommand({ NumberOfBytes: 1025 })))).message).toBe(
      "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
    )
  })
})

describe('asymmetric keys: Sign, Verify, GetPublicKey, DeriveSharedSecret', () => {
  const cases = [
    ['RSA_2048', 'RSASSA_PSS_SHA_256'],
    ['RSA_3072', 'RSASSA_PKCS1_V1_5_SHA_384'],
    ['ECC_NIST_P256', 'ECDSA_SHA_256'],
    ['ECC_NIST_P384', 'ECDSA_SHA_384'],
    ['ECC_NIST_P521', 'ECDSA_SHA_512'],
    ['ECC_SECG_P256K1', 'ECDSA_SHA_256'],
    ['ECC_NIST_EDWARDS25519', 'ED25519_SHA_512'],
  ] as const
  for (const [spec, alg] of cases) {
    it(`${spec} ${alg}: the signature verifies with node:crypto and with KMS Verify`, async () => {
      const { arn } = await newKey({ KeySpec: spec, KeyUsage: 'SIGN_VERIFY' })
      const msg = Buffer.from(`message for ${spec}`)
      const s = await c.send(new SignCommand({ KeyId: arn, Message: msg, SigningAlgorithm: alg, MessageType: 'RAW' }))
      expect(s).toMatchObject({ KeyId: arn, SigningAlgorithm: alg })
      const pk = await c.send(new GetPublicKeyCommand({ KeyId: arn }))
      expect(pk).toMatchObject({ KeyId: arn, KeySpec: spec, KeyUsage: 'SIGN_VERIFY' })
      expect(pk.SigningAlgorithms).toContain(alg)
      const pub = createPublicKey({ key: Buffer.from(pk.PublicKey!), format: 'der', type: 'spki' })
      const hash = alg === 'ED25519_SHA_512' ? null : `sha${alg.slice(-3)}`
      const opts = alg.startsWith('RSASSA_PSS') ? { key: pub, padding: 6, saltLength: 32 } : alg.startsWith('RSASSA') ? { key: pub, padding: 1 } : { key: pub }
      expect(verify(hash, msg, opts, Buffer.from(s.Signature!))).toBe(true)
      expect((await c.send(new VerifyCommand({ KeyId: arn, Message: msg, Signature: s.Signature, SigningAlgorithm: alg }))).SignatureValid).toBe(true)
      const f = await failure(c.send(new VerifyCommand({ KeyId: arn, Message: Buffer.from('other'), Signature: s.Signature, SigningAlgorithm: alg })))
      expect(f.name).toBe('KMSInvalidSignatureException')
    })
  }

  it('RSA over a precomputed digest (MessageType DIGEST): interchangeable with RAW, checked by node:crypto', async () => {
    const { createHash } = await import('node:crypto')
    for (const [spec, alg] of [
      ['RSA_2048', 'RSASSA_PSS_SHA_256'],
      ['RSA_2048', 'RSASSA_PKCS1_V1_5_SHA_256'],
      ['RSA_3072', 'RSASSA_PSS_SHA_384'],
      ['RSA_4096', 'RSASSA_PSS_SHA_512'],
      ['RSA_4096', 'RSASSA_PKCS1_V1_5_SHA_512'],
    ] as const) {
      const { arn } = await newKey({ KeySpec: spec, KeyUsage: 'SIGN_VERIFY' })
      const pub = createPublicKey({ key: Buffer.from((await c.send(new GetPublicKeyCommand({ KeyId: arn }))).PublicKey!), format: 'der', type: 'spki' })
      const hash = `sha${alg.slice(-3)}`
      const pss = alg.includes('PSS')
      const opts = pss ? { key: pub, padding: 6, saltLength: Number(alg.slice(-3)) / 8 } : { key: pub, padding: 1 }
      const msg = Buffer.from(`digest test ${alg}`)
      const digest = createHash(hash).update(msg).digest()
      const s = await c.send(new SignCommand({ KeyId: arn, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: alg }))
      expect({ alg, ok: verify(hash, msg, opts, Buffer.from(s.Signature!)) }).toEqual({ alg, ok: true })
      expect((await c.send(new VerifyCommand({ KeyId: arn, Message: msg, MessageType: 'RAW', Signature: s.Signature, SigningAlgorithm: alg }))).SignatureValid).toBe(true)
      const raw = await c.send(new SignCommand({ KeyId: arn, Message: msg, SigningAlgorithm: alg }))
      expect((await c.send(new VerifyCommand({ KeyId: arn, Message: digest, MessageType: 'DIGEST', Signature: raw.Signature, SigningAlgorithm: alg }))).SignatureValid).toBe(true)
      expect(Buffer.from(raw.Signature!)).toHaveLength(Number(spec.slice(4)) / 8)
      const bad = Buffer.from(raw.Signature!)
      bad[bad.length - 1] ^= 1
      expect((await failure(c.send(new VerifyCommand({ KeyId: arn, Message: digest, MessageType: 'DIGEST', Signature: bad, SigningAlgorithm: alg })))).name).toBe('KMSInvalidSignatureException')
      const other = createHash(hash).update('other').digest()
      expect((await failure(c.send(new VerifyCommand({ KeyId: arn, Message: other, MessageType: 'DIGEST', Signature: raw.Signature, SigningAlgorithm: alg })))).name).toBe('KMSInvalidSignatureException')
      const f = await failure(c.send(new SignCommand({ KeyId: arn, Message: digest.subarray(1), MessageType: 'DIGEST', SigningAlgorithm: alg })))
      expect(f).toMatchObject({ name: 'ValidationException', message: `Digest is invalid length for algorithm ${alg}.` })
    }
  })

  it('wrong algorithm, wrong usage, DIGEST, symmetric keys', async () => {
    const { arn } = await newKey({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' })
    expect((await failure(c.send(new SignCommand({ KeyId: arn, Message: Buffer.from('m'), SigningAlgorithm: 'ECDSA_SHA_384' })))).name).toBe('InvalidKeyUsageException')
    expect((await failure(c.send(new SignCommand({ KeyId: keyId, Message: Buffer.from('m'), SigningAlgorithm: 'ECDSA_SHA_256' })))).name).toBe('InvalidKeyUsageException')
    expect((await failure(c.send(new SignCommand({ KeyId: arn, Message: Buffer.alloc(32), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })))).name).toBe('UnsupportedOperationException')
    expect((await failure(c.send(new EncryptCommand({ KeyId: arn, Plaintext: Buffer.from('m') })))).message).toBe(`${arn} key usage is SIGN_VERIFY which is not valid for Encrypt.`)
    expect((await failure(c.send(new GetPublicKeyCommand({ KeyId: keyId })))).name).toBe('UnsupportedOperationException')
    expect((await failure(c.send(new SignCommand({ KeyId: arn, Message: Buffer.from('m'), SigningAlgorithm: 'ECDSA_SHA_256', DryRun: true })))).name).toBe('DryRunOperationException')
    expect((await failure(c.send(new CreateKeyCommand({ KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'SIGN_VERIFY' })))).name).toBe('ValidationException')
    expect((await failure(c.send(new CreateKeyCommand({ KeySpec: 'ML_DSA_44', KeyUsage: 'SIGN_VERIFY' })))).name).toBe('UnsupportedOperationException')
  })

  it('DeriveSharedSecret equals ECDH computed locally with the peer key', async () => {
    const { arn } = await newKey({ KeySpec: 'ECC_NIST_P384', KeyUsage: 'KEY_AGREEMENT' })
    const pk = await c.send(new GetPublicKeyCommand({ KeyId: arn }))
    expect(pk.KeyAgreementAlgorithms).toEqual(['ECDH'])
    const peer = generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
    const r = await c.send(new DeriveSharedSecretCommand({ KeyId: arn, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer.publicKey.export({ type: 'spki', format: 'der' }) }))
    const local = diffieHellman({ privateKey: peer.privateKey, publicKey: createPublicKey({ key: Buffer.from(pk.PublicKey!), format: 'der', type: 'spki' }) })
    expect(Buffer.from(r.SharedSecret!)).toEqual(local)
    expect(r).toMatchObject({ KeyId: arn, KeyAgreementAlgorithm: 'ECDH', KeyOrigin: 'AWS_KMS' })
    const wrongCurve = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' })
    expect((await failure(c.send(new DeriveSharedSecretCommand({ KeyId: arn, KeyAgreementAlgorithm: 'ECDH', PublicKey: wrongCurve })))).name).toBe('ValidationException')
    expect((await failure(c.send(new DeriveSharedSecretCommand({ KeyId: arn, KeyAgreementAlgorithm: 'ECDH', PublicKey: Buffer.from('nope') })))).name).toBe('ValidationException')
    // A compressed point is a valid SPKI too (SEC 1 §2.3.3).
    const compressed = createPublicKey({ key: peer.publicKey.export({ format: 'jwk' }), format: 'jwk' })
    const { ECDH } = await import('node:crypto')
    const raw = ECDH.convertKey(Buffer.from(peer.publicKey.export({ type: 'spki', format: 'der' })).subarray(-97), 'secp384r1', undefined, undefined, 'compressed') as Buffer
    const spkiCompressed = Buffer.concat([Buffer.from('3046301006072a8648ce3d020106052b81040022033200', 'hex'), raw])
    expect(createPublicKey({ key: spkiCompressed, format: 'der', type: 'spki' }).equals(compressed)).toBe(true)
    const rc = await c.send(new DeriveSharedSecretCommand({ KeyId: arn, KeyAgreementAlgorithm: 'ECDH', PublicKey: spkiCompressed }))
    expect(Buffer.from(rc.SharedSecret!)).toEqual(local)
    // Hostile SPKIs: the point at infinity (node imports it, then aborts the process when its
    // details are read), a hybrid-form point, trailing bytes. Each is a ValidationException and
    // the server keeps answering.
    const uncompressed = Buffer.from(peer.publicKey.export({ type: 'spki', format: 'der' }))
    const hostile = [
      Buffer.from('3016301006072a8648ce3d020106052b81040022030200' + '00', 'hex'),
      Buffer.concat([uncompressed.subarray(0, -97), Buffer.from([0x06]), uncompressed.subarray(-96)]),
      Buffer.concat([uncompressed, Buffer.from([0])]),
    ]
    for (const pk of hostile) {
      const h = await failure(c.send(new DeriveSharedSecretCommand({ KeyId: arn, KeyAgreementAlgorithm: 'ECDH', PublicKey: pk })))
      expect({ pk: pk.toString('hex'), name: h.name }).toEqual({ pk: pk.toString('hex'), name: 'ValidationException' })
    }
    const p256 = await newKey({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' })
    const infinity256 = Buffer.from('3019301306072a8648ce3d020106082a8648ce3d030107030200' + '00', 'hex')
    expect((await failure(c.send(new DeriveSharedSecretCommand({ KeyId: p256.arn, KeyAgreementAlgorithm: 'ECDH', PublicKey: infinity256 })))).name).toBe('ValidationException')
    expect((await c.send(new DeriveSharedSecretCommand({ KeyId: arn, KeyAgreementAlgorithm: 'ECDH', PublicKey: uncompressed }))).SharedSecret).toHaveLength(48)
    expect((await failure(c.send(new DeriveSharedSecretCommand({ KeyId: keyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: wrongCurve })))).name).toBe('InvalidKeyUsageException')
    expect((await failure(c.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'KEY_AGREEMENT' })))).name).toBe('ValidationException')
  })
})

describe('RSA ENCRYPT_DECRYPT keys', () => {
  it('Encrypt/Decrypt with RSAES-OAEP as KMS: KeyId and EncryptionAlgorithm needed to decrypt', async () => {
    const { arn } = await newKey({ KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' })
    const pk = await c.send(new GetPublicKeyCommand({ KeyId: arn }))
    expect(pk.EncryptionAlgorithms).toEqual(['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'])
    const e = await c.send(new EncryptCommand({ KeyId: arn, Plaintext: Buffer.from('rsa secret'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }))
    expect(e.CiphertextBlob).toHaveLength(256)
    expect(e.EncryptionAlgorithm).toBe('RSAES_OAEP_SHA_256')
    const d = await c.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, KeyId: arn, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }))
    expect(Buffer.from(d.Plaintext!).toString()).toBe('rsa secret')
    // Encrypted locally with the public key (an independent OAEP implementation path).
    const { publicEncrypt, constants } = await import('node:crypto')
    const pub = createPublicKey({ key: Buffer.from(pk.PublicKey!), format: 'der', type: 'spki' })
    const local = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from('from outside'))
    expect(Buffer.from((await c.send(new DecryptCommand({ CiphertextBlob: local, KeyId: arn, EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' }))).Plaintext!).toString()).toBe('from outside')
    // Without KeyId the raw ciphertext names no key (sdk-c #68); the wrong algorithm does not decrypt.
    expect((await failure(c.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob })))).name).toBe('InvalidCiphertextException')
    expect((await failure(c.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, KeyId: arn, EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' })))).name).toBe('InvalidCiphertextException')
    expect((await failure(c.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, KeyId: arn })))).name).toBe('InvalidKeyUsageException')
    expect((await failure(c.send(new EncryptCommand({ KeyId: arn, Plaintext: Buffer.from('x') })))).name).toBe('InvalidKeyUsageException')
    expect((await failure(c.send(new EncryptCommand({ KeyId: arn, Plaintext: Buffer.alloc(191), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })))).name).toBe('ValidationException')
    await c.send(new EncryptCommand({ KeyId: arn, Plaintext: Buffer.alloc(190), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }))
    expect((await failure(c.send(new EncryptCommand({ KeyId: arn, Plaintext: Buffer.from('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256', EncryptionContext: { a: 'b' } })))).name).toBe('ValidationException')
    expect((await failure(c.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })))).name).toBe('InvalidKeyUsageException')
  })

  it('an asymmetric ENCRYPT_DECRYPT key is refused by GenerateDataKey(Pair): InvalidKeyUsageException', async () => {
    const { arn } = await newKey({ KeySpec: 'RSA_3072', KeyUsage: 'ENCRYPT_DECRYPT' })
    let f = await failure(c.send(new GenerateDataKeyPairCommand({ KeyId: arn, KeyPairSpec: 'ECC_NIST_P256' })))
    expect(f).toMatchObject({ name: 'InvalidKeyUsageException', message: `${arn} key spec is RSA_3072 which is not valid for GenerateDataKeyPair.` })
    f = await failure(c.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: arn, KeyPairSpec: 'ECC_NIST_P256' })))
    expect(f.name).toBe('InvalidKeyUsageException')
    f = await failure(c.send(new GenerateDataKeyCommand({ KeyId: arn, KeySpec: 'AES_256' })))
    expect(f.name).toBe('InvalidKeyUsageException')
  })
})

describe('key policies', () => {
  it('GetKeyPolicy returns the default policy', async () => {
    const p = await c.send(new GetKeyPolicyCommand({ KeyId: keyId }))
    expect(p.PolicyName).toBe('default')
    expect(JSON.parse(p.Policy!)).toMatchObject({ Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*' }] })
  })

  it('an explicit Deny: AccessDeniedException (Message with a capital M on the wire)', async () => {
    const { id, arn } = await newKey()
    const policy = {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' },
        { Effect: 'Deny', Principal: '*', Action: 'kms:Encrypt', Resource: '*' },
      ],
    }
    await c.send(new PutKeyPolicyCommand({ KeyId: id, Policy: JSON.stringify(policy) }))
    const f = await failure(c.send(new EncryptCommand({ KeyId: id, Plaintext: Buffer.from('x') })))
    expect(f.name).toBe('AccessDeniedException')
    expect(f.message).toBe(`User: arn:aws:iam::111122223333:user/kms-local-dev is not authorized to perform: kms:Encrypt on resource: ${arn} with an explicit deny in a resource-based policy`)
    await c.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256' }))
  })

  it('lockout safety check, bypass, malformed policies', async () => {
    const { id } = await newKey()
    const lockout = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: '444455556666' }, Action: 'kms:*', Resource: '*' }] })
    let f = await failure(c.send(new PutKeyPolicyCommand({ KeyId: id, Policy: lockout })))
    expect(f).toMatchObject({ name: 'MalformedPolicyDocumentException', message: 'The new key policy will not allow you to update the key policy in the future.' })
    f = await failure(c.send(new CreateKeyCommand({ Policy: lockout })))
    expect(f.name).toBe('MalformedPolicyDocumentException')
    const bad = [
      '{"Version":"2012-10-17","Statement":[],"Statement":[]}',
      '{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NumericLessThan":{"kms:x":"1"}}}]}',
      '{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*","Resource":"*"}]}',
      '{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Extra":1}]}',
      'not json',
    ]
    for (const p of bad) {
      expect((await failure(c.send(new PutKeyPolicyCommand({ KeyId: id, Policy: p })))).name).toBe('MalformedPolicyDocumentException')
    }
    await c.send(new PutKeyPolicyCommand({ KeyId: id, Policy: lockout, BypassPolicyLockoutSafetyCheck: true }))
    f = await failure(c.send(new GetKeyPolicyCommand({ KeyId: id })))
    expect(f.name).toBe('AccessDeniedException')
  })
})
