import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import * as net from 'node:net'
import * as tls from 'node:tls'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, sign, verify } from 'node:crypto'
import { CreateKeyCommand, EncryptCommand, GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms'
import { startKmsLocal, type KmsLocal } from '../../kms-local/index.js'
import { NsmSimulator } from '../../nsm/index.js'
import { main } from '../../enclave-app/main.js'
import { connect, listen, relay, type Listener } from '../../vsock-bridge/index.js'
import { captureIo } from '../helpers/io.js'

let dir: string
let kms: KmsLocal
let keyId: string
let parent: KMSClient
let relayListener: Listener
let relayed = 0
// TLS in front of kms-local (certificate for 127.0.0.1 from a CA only the tests know)
let tlsFront: tls.Server
let tlsEndpoint: string
const saved = { ...process.env }

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'enclave-cli-'))
  const sim = await NsmSimulator.init(join(dir, 'sim'))
  kms = await startKmsLocal({ trustRoots: [sim.rootCertificatePem] })
  process.env.AWS_ACCESS_KEY_ID = kms.credentials[0].accessKeyId
  process.env.AWS_SECRET_ACCESS_KEY = kms.credentials[0].secretAccessKey
  parent = new KMSClient({ region: kms.region, endpoint: kms.endpoint, credentials: kms.credentials[0] })
  keyId = (await parent.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
  // a byte relay to kms-local that counts its connections (the stand-in for host-proxy)
  relayListener = await listen(`unix:${join(dir, 'kms.sock')}`, (s) => {
    relayed++
    connect(`tcp://127.0.0.1:${new URL(kms.endpoint).port}`).then(
      (up) => void relay(s, up),
      () => s.destroy(),
    )
  })
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=kms-front', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, 'front.key.pem'), '-out', join(dir, 'front.pem'),
  ], { stdio: 'ignore' })
  tlsFront = tls.createServer({ key: readFileSync(join(dir, 'front.key.pem')), cert: readFileSync(join(dir, 'front.pem')) }, (s) => {
    void relay(s, net.connect(Number(new URL(kms.endpoint).port), '127.0.0.1'))
  })
  await new Promise<void>((r) => tlsFront.listen(0, '127.0.0.1', r))
  tlsEndpoint = `https://127.0.0.1:${(tlsFront.address() as AddressInfo).port}`
})

afterAll(async () => {
  process.env = saved
  parent?.destroy()
  await relayListener?.close()
  await new Promise<void>((r) => (tlsFront ? tlsFront.close(() => r()) : r()))
  await kms?.close()
  rmSync(dir, { recursive: true, force: true })
})

const common = () => ['--endpoint', kms.endpoint, '--region', kms.region, '--nsm', `simulator:${join(dir, 'sim')}`]

describe('nitro-recipient enclave-app', () => {
  it('generate-data-key writes the key to a new 0600 file and prints only metadata', async () => {
    const c = captureIo()
    const out = join(dir, 'dk.bin')
    expect(await main(['generate-data-key', '--key-id', keyId, ...common(), '--out', out], c.io)).toBe(0)
    const meta = JSON.parse(c.stdout()) as { KeyId: string; CiphertextBlob: string; Out: string }
    const key = readFileSync(out)
    expect(key).toHaveLength(32)
    expect(statSync(out).mode & 0o777).toBe(0o600)
    expect(c.stdout()).not.toContain(key.toString('base64'))
    expect(c.stdout()).not.toContain(key.toString('hex'))
    // decrypt the blob again through the CLI: same key
    writeFileSync(join(dir, 'blob'), Buffer.from(meta.CiphertextBlob, 'base64'))
    const c2 = captureIo()
    expect(await main(['decrypt', '--ciphertext', join(dir, 'blob'), ...common(), '--out', join(dir, 'dk2.bin')], c2.io)).toBe(0)
    expect(readFileSync(join(dir, 'dk2.bin')).equals(key)).toBe(true)
  })

  it('decrypt honours the encryption context', async () => {
    const enc = await parent.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('s3cret'), EncryptionContext: { a: 'b' } }))
    writeFileSync(join(dir, 'ctx.blob'), enc.CiphertextBlob!)
    const bad = captureIo()
    await expect(main(['decrypt', '--ciphertext', join(dir, 'ctx.blob'), '--context', 'a=c', ...common(), '--out', join(dir, 'ctx-bad')], bad.io)).rejects.toMatchObject({
      code: 'ERR_ENCLAVE_APP_KMS_REQUEST',
      kmsError: 'InvalidCiphertextException',
    })
    expect(existsSync(join(dir, 'ctx-bad'))).toBe(false)
    const ok = captureIo()
    expect(await main(['decrypt', '--ciphertext', join(dir, 'ctx.blob'), '--context', 'a=b', ...common(), '--out', join(dir, 'ctx-ok')], ok.io)).toBe(0)
    expect(readFileSync(join(dir, 'ctx-ok'), 'utf8')).toBe('s3cret')
  })

  it('--context keeps every key, __proto__ included', async () => {
    const ctx = Object.create(null) as Record<string, string>
    ctx['__proto__'] = 'p'
    ctx['constructor'] = 'c'
    const enc = await parent.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('proto'), EncryptionContext: ctx }))
    writeFileSync(join(dir, 'proto.blob'), enc.CiphertextBlob!)
    const c = captureIo()
    const args = ['decrypt', '--ciphertext', join(dir, 'proto.blob'), '--context', '__proto__=p', '--context', 'constructor=c', ...common()]
    expect(await main([...args, '--out', join(dir, 'proto-ok')], c.io)).toBe(0)
    expect(readFileSync(join(dir, 'proto-ok'), 'utf8')).toBe('proto')
    await expect(main(['decrypt', '--context', '__proto__=a', '--context', '__proto__=b', '--ciphertext', 'x', '--out', 'y'], c.io)).rejects.toMatchObject({ code: 'ERR_USAGE' })
  })

  it('refuses to overwrite an existing output file', async () => {
    writeFileSync(join(dir, 'exists'), 'x')
    const c = captureIo()
    await expect(main(['generate-random', '--bytes', '16', ...common(), '--out', join(dir, 'exists')], c.io)).rejects.toMatchObject({
      code: 'ERR_USAGE',
      message: expect.stringContaining('already exists'),
    })
    expect(readFileSync(join(dir, 'exists'), 'utf8')).toBe('x')
  })

  it('checks --out before the NSM or KMS is used, and never follows a symlink', async () => {
    // With an NSM that does not exist, only a check made first can answer ERR_USAGE: a data key
    // is never generated for an output that cannot be written.
    const noNsm = ['--endpoint', kms.endpoint, '--region', kms.region, '--nsm', '/nonexistent/nsm']
    writeFileSync(join(dir, 'taken'), 'x')
    const c = captureIo()
    await expect(main(['generate-data-key', '--key-id', keyId, ...noNsm, '--out', join(dir, 'taken')], c.io)).rejects.toMatchObject({ code: 'ERR_USAGE' })
    symlinkSync(join(dir, 'link-target'), join(dir, 'link'))
    await expect(main(['generate-random', '--bytes', '16', ...common(), '--out', join(dir, 'link')], c.io)).rejects.toMatchObject({ code: 'ERR_USAGE' })
    expect(existsSync(join(dir, 'link-target'))).toBe(false)
    await expect(main(['generate-random', '--bytes', '16', ...common(), '--out', join(dir, 'no-such-dir', 'r')], c.io)).rejects.toMatchObject({ code: 'ERR_USAGE' })
    // a failure after --out was created leaves no file behind
    await expect(main(['generate-random', '--bytes', '16', ...noNsm, '--out', join(dir, 'left')], c.io)).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_NSM_/) })
    expect(existsSync(join(dir, 'left'))).toBe(false)
    expect(c.stdout()).toBe('')
  })

  it('--ciphertext and --ca are read with a bound, and every failure is a usage error', async () => {
    const c = captureIo()
    const run = (file: string, opt = '--ciphertext'): Promise<number> =>
      main(['decrypt', '--ciphertext', opt === '--ciphertext' ? file : join(dir, 'blob-ok'), ...(opt === '--ca' ? ['--ca', file] : []), ...common(), '--out', join(dir, 'never')], c.io)
    writeFileSync(join(dir, 'blob-ok'), Buffer.alloc(100, 1))
    writeFileSync(join(dir, 'blob-big'), Buffer.alloc(6145, 1))
    writeFileSync(join(dir, 'blob-empty'), '')
    await expect(run(join(dir, 'blob-big'))).rejects.toMatchObject({ code: 'ERR_USAGE', message: expect.stringContaining('larger than 6144 bytes') })
    await expect(run(join(dir, 'blob-empty'))).rejects.toMatchObject({ code: 'ERR_USAGE', message: expect.stringContaining('empty') })
    await expect(run(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ERR_USAGE', message: expect.stringContaining('ENOENT') })
    await expect(run(dir)).rejects.toMatchObject({ code: 'ERR_USAGE', message: expect.stringContaining('EISDIR') })
    // an endless device ends at the bound instead of filling the memory
    await expect(run('/dev/zero')).rejects.toMatchObject({ code: 'ERR_USAGE', message: expect.stringContaining('larger than') })
    await expect(run('/dev/zero', '--ca')).rejects.toMatchObject({ code: 'ERR_USAGE', message: expect.stringContaining('--ca /dev/zero: larger than') })
    await expect(run(join(dir, 'missing'), '--ca')).rejects.toMatchObject({ code: 'ERR_USAGE' })
    expect(existsSync(join(dir, 'never'))).toBe(false)
  })

  it('plain http only with an explicit --endpoint http://, and then through --via', async () => {
    const c = captureIo()
    const nsm = ['--region', kms.region, '--nsm', `simulator:${join(dir, 'sim')}`]
    // an endpoint from the environment must not turn TLS off
    process.env.AWS_ENDPOINT_URL_KMS = kms.endpoint
    try {
      await expect(main(['generate-random', '--bytes', '16', ...nsm, '--out', join(dir, 'env-http')], c.io)).rejects.toMatchObject({ code: 'ERR_ENCLAVE_APP_TRANSPORT' })
      expect(existsSync(join(dir, 'env-http'))).toBe(false)
    } finally {
      delete process.env.AWS_ENDPOINT_URL_KMS
    }
    // HTTP:// is http: it goes through the relay, not past it
    const upper = kms.endpoint.replace(/^http:/, 'HTTP:')
    const before = relayed
    expect(await main(['generate-random', '--bytes', '16', '--endpoint', upper, '--via', `unix:${join(dir, 'kms.sock')}`, ...nsm, '--out', join(dir, 'upper')], c.io)).toBe(0)
    expect(relayed).toBeGreaterThan(before)
    expect(readFileSync(join(dir, 'upper'))).toHaveLength(16)
    for (const bad of [['--endpoint', 'ftp://kms.test'], ['--endpoint', 'kms.test'], ['--via', 'vsock://nowhere:1']]) {
      await expect(main(['generate-random', '--bytes', '16', ...bad, ...nsm, '--out', join(dir, 'bad')], c.io)).rejects.toMatchObject({ code: 'ERR_USAGE' })
    }
    expect(existsSync(join(dir, 'bad'))).toBe(false)
  })

  it('--ca is the trust anchor of a direct https endpoint too, and verification survives NODE_TLS_REJECT_UNAUTHORIZED=0', async () => {
    const c = captureIo()
    const args = ['generate-random', '--bytes', '16', '--endpoint', tlsEndpoint, '--region', kms.region, '--nsm', `simulator:${join(dir, 'sim')}`]
    expect(await main([...args, '--ca', join(dir, 'front.pem'), '--out', join(dir, 'tls-ok')], c.io)).toBe(0)
    expect(readFileSync(join(dir, 'tls-ok'))).toHaveLength(16)
    const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'
    try {
      await expect(main([...args, '--out', join(dir, 'tls-unverified')], c.io)).rejects.toMatchObject({
        code: 'ERR_ENCLAVE_APP_KMS_REQUEST',
        message: expect.stringContaining('self-signed'),
      })
    } finally {
      if (saved === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved
    }
    expect(existsSync(join(dir, 'tls-unverified'))).toBe(false)
    await expect(main([...args.slice(0, 3), '--endpoint', kms.endpoint, '--ca', join(dir, 'front.pem'), '--out', join(dir, 'ca-http')], c.io)).rejects.toMatchObject({ code: 'ERR_USAGE' })
  })

  it('generate-data-key-pair: the private key (PKCS#8) to a new 0600 file, the public half and the wrapped key on stdout', async () => {
    const c = captureIo()
    const out = join(dir, 'pair.der')
    expect(await main(['generate-data-key-pair', '--key-id', keyId, '--key-pair-spec', 'ECC_NIST_P256', ...common(), '--out', out], c.io)).toBe(0)
    const meta = JSON.parse(c.stdout()) as Record<string, string>
    expect(Object.keys(meta).sort()).toEqual(['KeyId', 'KeyPairSpec', 'Out', 'PrivateKeyCiphertextBlob', 'PublicKey'])
    expect(meta.KeyPairSpec).toBe('ECC_NIST_P256')
    expect(statSync(out).mode & 0o777).toBe(0o600)
    const der = readFileSync(out)
    expect(c.stdout()).not.toContain(der.toString('base64'))
    const priv = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
    const pub = createPublicKey({ key: Buffer.from(meta.PublicKey, 'base64'), format: 'der', type: 'spki' })
    expect(verify('sha256', Buffer.from('m'), pub, sign('sha256', Buffer.from('m'), priv))).toBe(true)
    // the wrapped private key decrypts (through the Recipient again) to the same bytes
    writeFileSync(join(dir, 'pair.blob'), Buffer.from(meta.PrivateKeyCiphertextBlob, 'base64'))
    expect(await main(['decrypt', '--ciphertext', join(dir, 'pair.blob'), ...common(), '--out', join(dir, 'pair2.der')], captureIo().io)).toBe(0)
    expect(readFileSync(join(dir, 'pair2.der')).equals(der)).toBe(true)
    for (const bad of [['--key-pair-spec', 'RSA_1024'], []]) {
      await expect(main(['generate-data-key-pair', '--key-id', keyId, ...bad, ...common(), '--out', join(dir, 'pair-bad')], c.io)).rejects.toMatchObject({ code: 'ERR_USAGE' })
    }
    expect(existsSync(join(dir, 'pair-bad'))).toBe(false)
  })

  it('derive-shared-secret: the ECDH secret (as the peer computes it) to a new 0600 file; the peer key as DER or PEM', async () => {
    const ka = (await parent.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' }))).KeyMetadata!.KeyId!
    const kmsPublic = createPublicKey({ key: Buffer.from((await parent.send(new GetPublicKeyCommand({ KeyId: ka }))).PublicKey!), format: 'der', type: 'spki' })
    const peer = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const expected = diffieHellman({ privateKey: peer.privateKey, publicKey: kmsPublic })
    writeFileSync(join(dir, 'peer.der'), peer.publicKey.export({ type: 'spki', format: 'der' }))
    writeFileSync(join(dir, 'peer.pem'), peer.publicKey.export({ type: 'spki', format: 'pem' }))
    writeFileSync(join(dir, 'peer-private.pem'), peer.privateKey.export({ type: 'pkcs8', format: 'pem' }))
    for (const f of ['peer.der', 'peer.pem']) {
      const c = captureIo()
      const out = join(dir, `secret-${f}`)
      expect(await main(['derive-shared-secret', '--key-id', ka, '--public-key', join(dir, f), ...common(), '--out', out], c.io)).toBe(0)
      expect(readFileSync(out).equals(expected)).toBe(true)
      expect(statSync(out).mode & 0o777).toBe(0o600)
      expect(JSON.parse(c.stdout())).toEqual({ KeyId: expect.stringContaining(ka), Out: out })
    }
    // a private key is not a public key, even though node:crypto would derive one from it
    await expect(main(['derive-shared-secret', '--key-id', ka, '--public-key', join(dir, 'peer-private.pem'), ...common(), '--out', join(dir, 'secret-bad')], captureIo().io)).rejects.toMatchObject({ code: 'ERR_USAGE' })
    expect(existsSync(join(dir, 'secret-bad'))).toBe(false)
  })

  it('--timeout-ms ends a request to an endpoint that accepts and never answers', async () => {
    const held: net.Socket[] = []
    const silent = net.createServer((s) => void held.push(s))
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
    try {
      const endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`
      const args = ['generate-random', '--bytes', '16', '--endpoint', endpoint, '--region', kms.region, '--nsm', `simulator:${join(dir, 'sim')}`]
      await expect(main([...args, '--timeout-ms', '200', '--out', join(dir, 'stalled')], captureIo().io)).rejects.toMatchObject({ code: 'ERR_ENCLAVE_APP_KMS_REQUEST' })
      expect(held.length).toBeGreaterThan(0)
      expect(existsSync(join(dir, 'stalled'))).toBe(false)
      await expect(main([...args, '--timeout-ms', '0', '--out', join(dir, 'stalled')], captureIo().io)).rejects.toMatchObject({ code: 'ERR_USAGE' })
    } finally {
      for (const s of held) s.destroy()
      await new Promise<void>((r) => silent.close(() => r()))
    }
  })

  it('usage errors', async () => {
    const c = captureIo()
    await expect(main(['generate-random', '--bytes', '0', '--out', 'x'], c.io)).rejects.toMatchObject({ code: 'ERR_USAGE' })
    await expect(main(['frobnicate', '--out', 'x'], c.io)).rejects.toMatchObject({ code: 'ERR_USAGE' })
    await expect(main(['decrypt', '--context', 'novalue', '--ciphertext', 'x', '--out', 'y'], c.io)).rejects.toMatchObject({ code: 'ERR_USAGE' })
    expect(await main(['--help'], c.io)).toBe(0)
    expect(c.stdout()).toContain('generate-data-key')
  })

  it('never silently falls back to a simulator when /dev/nsm is missing', async () => {
    const c = captureIo()
    const err = await main(['generate-random', '--bytes', '16', '--endpoint', kms.endpoint, '--region', kms.region, '--nsm', '/nonexistent/nsm', '--out', join(dir, 'r')], c.io).catch((e: unknown) => e)
    expect((err as { code: string }).code).toMatch(/^ERR_NSM_/)
    expect((err as Error).message).toMatch(/simulator/)
  })
})
