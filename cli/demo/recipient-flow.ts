/**
 * Demo part 2: the whole attested-recipient flow on one machine, every part real except the
 * hardware: eif-build measures an enclave image, the NSM simulator boots with those PCRs, the
 * key policy pins them, kms-local (SigV4, SQLite in memory) verifies each Recipient document,
 * host-proxy relays the enclave's connection (a unix socket stands in for vsock), and
 * enclave-app opens the CMS envelopes inside. The demo's own secret is never printed: only its
 * length and whether it came back equal.
 * @module
 */
import { createCipheriv, randomBytes, timingSafeEqual } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  CreateKeyCommand,
  DecryptCommand,
  EncryptCommand,
  KMSClient,
  PutKeyPolicyCommand,
} from '@aws-sdk/client-kms'
import type { Io } from '../../common/cli.js'
import { silentLogger } from '../../common/log.js'
import { buildEif } from '../../eif-build/index.js'
import { keyPolicyStatements } from '../../eif-build/policy.js'
import { RecipientClient, KmsRequestError, tunnelHttpAgent } from '../../enclave-app/index.js'
import { parseConfig } from '../../host-proxy/config.js'
import { HostProxy } from '../../host-proxy/server.js'
import { DEV_CREDENTIALS, startKmsLocal } from '../../kms-local/index.js'
import { NsmSimulator } from '../../nsm/index.js'
import { formatAddress } from '../../vsock-bridge/index.js'

/** Stand-ins for nitro-cli's blobs: the PCRs are real functions of these bytes. */
async function standInImage(dir: string): Promise<{ rootfs: string; blobs: string }> {
  const blobs = join(dir, 'blobs')
  const rootfs = join(dir, 'rootfs')
  await mkdir(blobs)
  await mkdir(join(rootfs, 'app'), { recursive: true })
  await writeFile(join(blobs, 'bzImage'), Buffer.from('demo stand-in kernel image\n'.repeat(64)))
  await writeFile(join(blobs, 'cmdline'), 'reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on\n')
  await writeFile(join(blobs, 'init'), Buffer.from('demo stand-in init\n'.repeat(16)))
  await writeFile(join(blobs, 'nsm.ko'), Buffer.from('demo stand-in nsm.ko\n'.repeat(16)))
  await writeFile(join(rootfs, 'app', 'server.sh'), '#!/bin/sh\necho "hello from the enclave"\n', { mode: 0o755 })
  return { rootfs, blobs }
}

function step(io: Io, text: string): void {
  io.stdout.write(`  ✓ ${text}\n`)
}

async function denied(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    if (e instanceof KmsRequestError) return e.kmsError ?? e.code
    return (e as { name?: string }).name ?? String(e)
  }
  throw new Error('demo: a call that must be refused succeeded')
}

/** Runs the flow; throws on any deviation from the expected outcome. */
export async function recipientFlow(io: Io): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nitro-recipient-demo-'))
  const cleanup: (() => Promise<void>)[] = []
  try {
    io.stdout.write('\nThe recipient flow, all local (no AWS account): eif-build -> NSM simulator -> enclave-app\n')
    io.stdout.write('-> host-proxy (unix socket standing in for vsock) -> kms-local (SigV4, real Recipient checks)\n\n')

    // 1. The enclave image and its measurements.
    const { rootfs, blobs } = await standInImage(dir)
    const built = await buildEif({
      blobs,
      rootfs: { kind: 'directory', path: rootfs },
      cmd: ['/app/server.sh'],
      name: 'demo-enclave',
      version: '1.0.0',
      sourceDateEpoch: '0',
      output: join(dir, 'demo.eif'),
    })
    const m = built.measurements
    step(io, `built demo.eif (${built.size} bytes): PCR0 ${m.pcr0.slice(0, 24)}…`)

    // 2. The enclave boots: its NSM holds those PCRs. An impostor runs another image.
    const enclave = await NsmSimulator.ephemeral({ pcrs: { 0: m.pcr0, 1: m.pcr1, 2: m.pcr2 }, logger: silentLogger })
    const impostor = await NsmSimulator.ephemeral({ pcrs: { 0: randomBytes(48) }, logger: silentLogger })
    step(io, `NSM simulator booted with the image's PCRs (${enclave.moduleId}); an impostor with another PCR0`)

    // 3. KMS: kms-local trusts the simulators' development roots (never by default).
    const kms = await startKmsLocal({ trustRoots: [enclave.rootCertificatePem, impostor.rootCertificatePem] })
    cleanup.push(() => kms.close())
    step(io, `kms-local listening on ${kms.endpoint} (SigV4 with development keys)`)

    // 4. The parent's host-proxy: the enclave's only way out, to allowlisted endpoints only.
    const kmsPort = new URL(kms.endpoint).port
    const proxy = await HostProxy.start(
      parseConfig(
        [
          'allowlist:',
          `  - {address: 127.0.0.1, port: ${kmsPort}}`,
          'routes:',
          '  - name: kms',
          `    listen: unix:${join(dir, 'kms.sock')}`,
          `    target: {address: 127.0.0.1, port: ${kmsPort}}`,
          '',
        ].join('\n'),
      ),
    )
    cleanup.push(() => proxy.shutdown())
    step(io, `host-proxy relays ${formatAddress(proxy.routeAddresses.get('kms')!)} -> 127.0.0.1:${kmsPort}`)

    // 5. The parent (an admin) makes a key whose policy pins the image.
    const admin = new KMSClient({ region: kms.region, endpoint: kms.endpoint, credentials: kms.credentials[0], maxAttempts: 1 })
    cleanup.push(async () => admin.destroy())
    const keyId = (await admin.send(new CreateKeyCommand({ Description: 'demo: pinned to demo.eif' }))).KeyMetadata!.KeyId!
    const pin = keyPolicyStatements(m, { pcrs: [0, 1, 2], role: DEV_CREDENTIALS[0].principalArn })
    const policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'KeyAdministration',
          Effect: 'Allow',
          Principal: { AWS: DEV_CREDENTIALS[0].principalArn },
          Action: ['kms:Encrypt', 'kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:PutKeyPolicy'],
          Resource: '*',
        },
        ...pin.Statement,
      ],
    }
    await admin.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: JSON.stringify(policy) }))
    step(io, `key ${keyId}: policy allows the Recipient operations only with a document whose ImageSha384/PCR1/PCR2 match`)

    // 6. The parent encrypts a secret for the enclave; it cannot decrypt it back.
    const secret = randomBytes(32)
    const sealed = await admin.send(new EncryptCommand({ KeyId: keyId, Plaintext: secret, EncryptionContext: { app: 'demo' } }))
    step(io, `parent encrypted a ${secret.length}-byte secret (CiphertextBlob ${sealed.CiphertextBlob!.length} bytes)`)
    const parentDecrypt = await denied(admin.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob, EncryptionContext: { app: 'demo' } })))
    step(io, `parent's own Decrypt (no Recipient) refused: ${parentDecrypt}`)

    // 7. Inside the enclave: the AWS SDK over the relay, every call attested.
    const enclaveKms = new KMSClient({
      region: kms.region,
      endpoint: kms.endpoint,
      credentials: kms.credentials[0],
      maxAttempts: 1,
      requestHandler: { httpAgent: tunnelHttpAgent({ via: `unix:${join(dir, 'kms.sock')}` }) },
    })
    cleanup.push(async () => enclaveKms.destroy())
    const client = await RecipientClient.create({ kms: enclaveKms, attester: enclave })
    const opened = await client.decrypt({ ciphertextBlob: sealed.CiphertextBlob!, encryptionContext: { app: 'demo' } })
    const same = opened.plaintext.length === secret.length && timingSafeEqual(opened.plaintext, secret)
    opened.plaintext.fill(0)
    if (!same) throw new Error('demo: the enclave recovered a different secret')
    step(io, 'enclave Decrypt with Recipient: KMS answered CiphertextForRecipient only; opened inside, equal to the secret')

    const dk = await client.generateDataKey({ keyId, encryptionContext: { app: 'demo' } })
    const iv = randomBytes(12)
    const c = createCipheriv('aes-256-gcm', dk.plaintext, iv)
    const record = Buffer.concat([c.update('a record sealed inside the enclave'), c.final(), c.getAuthTag()])
    dk.plaintext.fill(0)
    step(io, `enclave GenerateDataKey with Recipient: sealed a ${record.length}-byte record with the data key; kept the ${dk.ciphertextBlob.length}-byte wrapped key`)

    // 8. Another image cannot get in.
    const other = await RecipientClient.create({ kms: enclaveKms, attester: impostor })
    step(io, `impostor enclave (other PCR0) refused: ${await denied(other.decrypt({ ciphertextBlob: sealed.CiphertextBlob!, encryptionContext: { app: 'demo' } }))}`)

    io.stdout.write('\nThe parent relayed every byte and held the credentials, yet saw neither the secret nor the data key:\n')
    io.stdout.write('KMS encrypted them to the RSA key inside the attested enclave. (In production TLS also ends inside\n')
    io.stdout.write('the enclave; kms-local speaks plain HTTP on loopback.)\n\n')
    secret.fill(0)
  } finally {
    for (const f of cleanup.reverse()) await f().catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
  }
}
