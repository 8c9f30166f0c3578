/**
 * kms-local through the real AWS SDK with SigV4 on, the server in its own process (the CLI):
 * - GenerateDataKey requests/s, against the baseline GenerateRandom (same SDK, signing and HTTP
 *   path, no key, no storage, no AES);
 * - GenerateDataKeyPair latency (ECC_NIST_P256 and RSA_2048) with a Recipient (document
 *   verification + CMS envelope), against the baseline: the same call without Recipient.
 *
 * Run: `npm run bench:kms-local` (builds first). Numbers depend on machine load; see uptime.
 * @module
 */
import { spawn } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { CreateKeyCommand, GenerateDataKeyCommand, GenerateDataKeyPairCommand, GenerateRandomCommand, KMSClient } from '@aws-sdk/client-kms'
import { silentLogger } from '../common/log.js'
import { NsmSimulator } from '../nsm/simulator/index.js'

process.removeAllListeners('warning')

const DURATION_MS = Number(process.env.BENCH_MS ?? 3000)
const CONCURRENCY = 8

async function throughput(label: string, call: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 20; i++) await call() // warm-up
  let n = 0
  const end = Date.now() + DURATION_MS
  const t0 = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < end) {
        await call()
        n++
      }
    }),
  )
  const s = Number(process.hrtime.bigint() - t0) / 1e9
  const rate = n / s
  console.log(`  ${label.padEnd(46)} ${rate.toFixed(0).padStart(6)} req/s  (${n} requests, ${CONCURRENCY} in flight)`)
  return rate
}

async function latency(label: string, call: () => Promise<unknown>, count: number): Promise<number> {
  for (let i = 0; i < 3; i++) await call()
  const times: number[] = []
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint()
    await call()
    times.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  times.sort((a, b) => a - b)
  const p50 = times[Math.floor(times.length * 0.5)]
  const p95 = times[Math.floor(times.length * 0.95)]
  console.log(`  ${label.padEnd(46)} p50 ${p50.toFixed(2).padStart(7)} ms  p95 ${p95.toFixed(2).padStart(7)} ms  (n=${count}, sequential)`)
  return p50
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-kms-local-'))
  const sim = await NsmSimulator.ephemeral({ logger: silentLogger })
  const rootFile = join(dir, 'sim-root.pem')
  writeFileSync(rootFile, sim.rootCertificatePem)
  const bin = fileURLToPath(new URL('../../bin/nitro-recipient.js', import.meta.url))
  const child = spawn(process.execPath, [bin, 'kms-local', 'serve', '--json', '--listen', 'tcp://127.0.0.1:0', '--data-dir', join(dir, 'data'), '--trust-root', rootFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NITRO_RECIPIENT_LOG_LEVEL: 'warn' },
  })
  try {
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve)
      child.once('exit', (c) => reject(new Error(`server exited ${c}`)))
    })
    const info = JSON.parse(line) as { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string }[] }
    const kms = new KMSClient({ region: info.region, endpoint: info.endpoint, credentials: info.credentials[0], maxAttempts: 1 })
    const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const doc = await sim.attest({ publicKey: rsa.publicKey.export({ type: 'spki', format: 'der' }) })
    const Recipient = { AttestationDocument: doc, KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' as const }

    console.log(`kms-local bench (node ${process.version}, ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; server in a child process, data dir on disk, synchronous=FULL; SigV4 verified)`)
    console.log('throughput:')
    const base = await throughput('baseline GenerateRandom(32)', () => kms.send(new GenerateRandomCommand({ NumberOfBytes: 32 })))
    const gdk = await throughput('GenerateDataKey AES_256', () => kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' })))
    console.log(`  ratio GenerateDataKey / GenerateRandom: ${(gdk / base).toFixed(2)}`)
    const gdkR = await throughput('GenerateDataKey AES_256 + Recipient', () => kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', Recipient })))
    console.log(`  ratio with Recipient / without: ${(gdkR / gdk).toFixed(2)}`)
    console.log('latency:')
    for (const [spec, n] of [['ECC_NIST_P256', 200], ['RSA_2048', 40]] as const) {
      const plain = await latency(`baseline GenerateDataKeyPair ${spec}`, () => kms.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: spec })), n)
      const withR = await latency(`GenerateDataKeyPair ${spec} + Recipient`, () => kms.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: spec, Recipient })), n)
      console.log(`  ratio p50 with Recipient / without (${spec}): ${(withR / plain).toFixed(2)}  (+${(withR - plain).toFixed(2)} ms)`)
    }
    kms.destroy()
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
    await sim.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
