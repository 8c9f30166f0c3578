// The whole recipient flow in one process, with real parts: the NSM simulator attests the
// enclave's RSA key, the real AWS SDK talks SigV4 to kms-local through a unix-socket relay
// (the stand-in for vsock -> host-proxy), kms-local verifies the document and the key policy,
// and the enclave opens CiphertextForRecipient. openssl cross-checks nothing here: kms-local's
// suite does that; this suite checks the client's contract.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPrivateKey, createPublicKey, generateKeyPairSync, diffieHellman, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CreateKeyCommand, EncryptCommand, GenerateDataKeyCommand, GetPublicKeyCommand, KMSClient, PutKeyPolicyCommand } from '@aws-sdk/client-kms'
import { startKmsLocal, type KmsLocal } from '../../kms-local/index.js'
import { NsmSimulator } from '../../nsm/index.js'
import { connect, listen, relay, type Listener } from '../../vsock-bridge/index.js'
import { RecipientClient } from '../../enclave-app/client.js'
import { tunnelHttpAgent } from '../../enclave-app/transport.js'
import { KmsRequestError, KmsResponseError } from '../../enclave-app/errors.js'
import { isNitroError } from '../../common/errors.js'

let kms: KmsLocal
let sim: NsmSimulator
let other: NsmSimulator
let relayListener: Listener
let dir: string
let sdk: KMSClient
let parent: KMSClient
let keyId: string

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex')
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'enclave-app-'))
  sim = await NsmSimulator.ephemeral({ pcrs: { 0: randomBytes(48), 1: randomBytes(48), 2: randomBytes(48) } })
  // a second "enclave" with other PCRs, chained to the same kind of dev root (trusted too)
  other = await NsmSimulator.ephemeral({ pcrs: { 0: randomBytes(48) } })
  kms = await startKmsLocal({ trustRoots: [sim.rootCertificatePem, other.rootCertificatePem] })
  // the parent's relay: unix socket -> kms-local's TCP port, bytes only
  const target = new URL(kms.endpoint)
  relayListener = await listen(`unix:${join(dir, 'kms.sock')}`, (s) => {
    connect(`tcp://127.0.0.1:${target.port}`).then(
      (up) => void relay(s, up),
      () => s.destroy(),
    )
  })
  sdk = new KMSClient({
    region: kms.region,
    endpoint: kms.endpoint,
    credentials: kms.credentials[0],
    maxAttempts: 1,
    requestHandler: { httpAgent: tunnelHttpAgent({ via: `unix:${join(dir, 'kms.sock')}` }) },
  })
  parent = new KMSClient({ region: kms.region, endpoint: kms.endpoint, credentials: kms.credentials[0], maxAttempts: 1 })
  const created = await parent.send(new CreateKeyCommand({ Description: 'enclave-app test' }))
  keyId = created.KeyMetadata!.KeyId!
})

afterAll(async () => {
  sdk?.destroy()
  parent?.destroy()
  await relayListener?.close()
  await kms?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('RecipientClient against kms-local', () => {
  it('GenerateDataKey: the data key decrypts inside and matches what Decrypt-with-Recipient returns', async () => {
    const client = await RecipientClient.create({ kms: sdk, attester: sim })
    const dk = await client.generateDataKey({ keyId, encryptionContext: { app: 'demo' } })
    expect(dk.plaintext).toHaveLength(32)
    const again = await client.decrypt({ ciphertextBlob: dk.ciphertextBlob, encryptionContext: { app: 'demo' } })
    expect(again.plaintext.equals(dk.plaintext)).toBe(true)
    expect(again.keyId).toBe(dk.keyId)
  })

  it('Decrypt: a secret encrypted by the parent is opened only inside', async () => {
    const secret = Buffer.from('database password: hunter2')
    const enc = await parent.send(new EncryptCommand({ KeyId: keyId, Plaintext: secret }))
    const client = await RecipientClient.create({ kms: sdk, attester: sim })
    const out = await client.decrypt({ ciphertextBlob: enc.CiphertextBlob! })
    expect(out.plaintext.equals(secret)).toBe(true)
  })

  it('GenerateDataKeyPair: the private key opens and matches the public key', async () => {
    const client = await RecipientClient.create({ kms: sdk, attester: sim })
    const pair = await client.generateDataKeyPair({ keyId, keyPairSpec: 'ECC_NIST_P256' })
    const priv = createPrivateKey({ key: pair.privateKey, format: 'der', type: 'pkcs8' })
    const pub = createPublicKey({ key: Buffer.from(pair.publicKey), format: 'der', type: 'spki' })
    expect(createPublicKey(priv).export({ type: 'spki', format: 'der' }).equals(pub.export({ type: 'spki', format: 'der' }))).toBe(true)
  })

  it('GenerateRandom: the requested number of bytes', async () => {
    const client = await RecipientClient.create({ kms: sdk, attester: sim })
    const r = await client.generateRandom(48)
    expect(r).toHaveLength(48)
  })

  it('DeriveSharedSecret: equals ECDH computed on the other side', async () => {
    const created = await parent.send(new CreateKeyCommand({ KeyUsage: 'KEY_AGREEMENT', KeySpec: 'ECC_NIST_P256' }))
    const kaKey = created.KeyMetadata!.KeyId!
    const kmsPub = createPublicKey({ key: Buffer.from((await parent.send(new GetPublicKeyCommand({ KeyId: kaKey }))).PublicKey!), format: 'der', type: 'spki' })
    const peer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    const client = await RecipientClient.create({ kms: sdk, attester: sim })
    const out = await client.deriveSharedSecret({ keyId: kaKey, publicKey: peer.publicKey.export({ type: 'spki', format: 'der' }) })
    expect(out.sharedSecret.equals(diffieHellman({ privateKey: peer.privateKey, publicKey: kmsPub }))).toBe(true)
  })

  it('a key with a PCR0-pinning policy refuses another enclave with AccessDeniedException', async () => {
    const created = await parent.send(new CreateKeyCommand({}))
    const pinned = created.KeyMetadata!.KeyId!
    const pcr0 = hex((await sim.describePcr(0)).data)
    await parent.send(
      new PutKeyPolicyCommand({
        KeyId: pinned,
        PolicyName: 'default',
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Sid: 'admin', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: ['kms:Encrypt', 'kms:PutKeyPolicy', 'kms:GetKeyPolicy', 'kms:DescribeKey'], Resource: '*' },
            {
              Sid: 'enclave',
              Effect: 'Allow',
              Principal: { AWS: 'arn:aws:iam::111122223333:root' },
              Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
              Resource: '*',
              Condition: { StringEqualsIgnoreCase: { 'kms:RecipientAttestation:PCR0': pcr0 } },
            },
          ],
        }),
      }),
    )
    const ours = await RecipientClient.create({ kms: sdk, attester: sim })
    const dk = await ours.generateDataKey({ keyId: pinned })
    expect(dk.plaintext).toHaveLength(32)
    const theirs = await RecipientClient.create({ kms: sdk, attester: other })
    const err = await theirs.generateDataKey({ keyId: pinned }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(KmsRequestError)
    expect((err as KmsRequestError).kmsError).toBe('AccessDeniedException')
    expect(isNitroError(err, 'ERR_ENCLAVE_APP_KMS_REQUEST')).toBe(true)
  })

  it('refuses an endpoint that returns the plaintext despite the Recipient, and zeroes it', async () => {
    const leaky = new KMSClient({ region: kms.region, endpoint: kms.endpoint, credentials: kms.credentials[0], maxAttempts: 1 })
    let leaked: Uint8Array | undefined
    // Rewrite the response the way a Recipient-ignoring emulator answers.
    leaky.middlewareStack.add(
      (next) => async (args) => {
        const r = await next(args)
        const out = r.output as { Plaintext?: Uint8Array; CiphertextForRecipient?: Uint8Array }
        out.Plaintext = leaked = Buffer.alloc(32, 7)
        out.CiphertextForRecipient = undefined
        return r
      },
      { step: 'initialize', name: 'leak' },
    )
    const client = await RecipientClient.create({ kms: leaky, attester: sim })
    await expect(client.generateDataKey({ keyId })).rejects.toBeInstanceOf(KmsResponseError)
    expect(Buffer.from(leaked!).equals(Buffer.alloc(32))).toBe(true)
    leaky.destroy()
  })

  it('zeroes a leaked plaintext even when the answer also lacks a required member', async () => {
    const enc = await parent.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('s3cret') }))
    const cases: [string, string, (c: RecipientClient) => Promise<unknown>][] = [
      ['Plaintext', 'CiphertextBlob', (c) => c.generateDataKey({ keyId })],
      ['Plaintext', 'KeyId', (c) => c.decrypt({ ciphertextBlob: enc.CiphertextBlob! })],
      ['PrivateKeyPlaintext', 'PublicKey', (c) => c.generateDataKeyPair({ keyId, keyPairSpec: 'ECC_NIST_P256' })],
    ]
    for (const [member, missing, call] of cases) {
      const leaky = new KMSClient({ region: kms.region, endpoint: kms.endpoint, credentials: kms.credentials[0], maxAttempts: 1 })
      let leaked: Uint8Array | undefined
      leaky.middlewareStack.add(
        (next) => async (args) => {
          const r = await next(args)
          const out = r.output as unknown as Record<string, unknown>
          out[member] = leaked = Buffer.alloc(32, 7)
          delete out[missing]
          return r
        },
        { step: 'initialize', name: 'leak' },
      )
      const client = await RecipientClient.create({ kms: leaky, attester: sim })
      await expect(call(client)).rejects.toMatchObject({ code: 'ERR_ENCLAVE_APP_KMS_RESPONSE', message: expect.stringContaining('plaintext despite the Recipient') })
      expect(Buffer.from(leaked!).equals(Buffer.alloc(32))).toBe(true)
      leaky.destroy()
    }
  })

  it('a CiphertextForRecipient for another key is one opaque decryption error', async () => {
    const a = await RecipientClient.create({ kms: sdk, attester: sim })
    const swap = new KMSClient({ region: kms.region, endpoint: kms.endpoint, credentials: kms.credentials[0], maxAttempts: 1 })
    // b's client attests b's key, but the response is replaced by one made for a's key
    const dkForA = await sdk.send(
      new GenerateDataKeyCommand({
        KeyId: keyId,
        KeySpec: 'AES_256',
        Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: await sim.attest({ publicKey: a.publicKeyDer }) },
      }),
    )
    swap.middlewareStack.add(
      (next) => async (args) => {
        const r = await next(args)
        ;(r.output as { CiphertextForRecipient?: Uint8Array }).CiphertextForRecipient = dkForA.CiphertextForRecipient
        return r
      },
      { step: 'initialize', name: 'swap' },
    )
    const bSwapped = await RecipientClient.create({ kms: swap, attester: sim })
    const err = await bSwapped.generateDataKey({ keyId }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isNitroError(err, 'ERR_CMS_DECRYPTION_FAILED')).toBe(true)
    expect((err as Error).message).toBe('decryption operation failed')
    swap.destroy()
  })
})
