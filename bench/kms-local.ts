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

// The AWS SDK's Node-version warning is noise here (its own switch; the bin sets it too).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const ROUND_MS = Number(process.env.BENCH_MS ?? 1500)
const ROUNDS = 3
const CONCURRENCY = 8

/** Requests/s over one round with CONCURRENCY calls in flight. */
async function rate(call: () => Promise<unknown>): Promise<number> {
  let n = 0
  const end = Date.now() + ROUND_MS
  const t0 = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < end) {
        await call()
        n++
      }
    }),
  )
  return n / (Number(process.hrtime.bigint() - t0) / 1e9)
}

/**
 * Best of ROUNDS rounds per case, the cases interleaved (A B C A B C ...) so that load changes on a
 * shared machine and warm-up hit every case alike.
 */
async function throughputs(cases: [string, () => Promise<unknown>][]): Promise<number[]> {
  for (const [, call] of cases) for (let i = 0; i < 100; i++) await call() // warm-up (JIT, caches)
  const best = cases.map(() => 0)
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, [, call]] of cases.entries()) best[i] = Math.max(best[i], await rate(call))
  }
  for (const [i, [label]] of cases.entries()) {
    console.log(`  ${label.padEnd(46)} ${best[i].toFixed(0).padStart(6)} req/s  (best of ${ROUNDS} x ${ROUND_MS} ms, ${CONCURRENCY} in flight)`)
  }
  return best
}

/** Sequential latencies, the cases interleaved call by call; prints p50/p95, returns p50s. */
async function latencies(cases: [string, () => Promise<unknown>][], count: number): Promise<number[]> {
  for (const [, call] of cases) for (let i = 0; i < 3; i++) await call()
  const times: number[][] = cases.map(() => [])
  for (let n = 0; n < count; n++) {
    for (const [i, [, call]] of cases.entries()) {
      const t0 = process.hrtime.bigint()
      await call()
      times[i].push(Number(process.hrtime.bigint() - t0) / 1e6)
    }
  }
  return cases.map(([label], i) => {
    const t = times[i].sort((a, b) => a - b)
    const p50 = t[Math.floor(t.length * 0.5)]
    const p95 = t[Math.floor(t.length * 0.95)]
    console.log(`  ${label.padEnd(46)} p50 ${p50.toFixed(2).padStart(7)} ms  p95 ${p95.toFixed(2).padStart(7)} ms  (n=${count}, sequential, interleaved)`)
    return p50
  })
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
    const [base, gdk, gdkR] = await throughputs([
      ['baseline GenerateRandom(32)', () => kms.send(new GenerateRandomCommand({ NumberOfBytes: 32 }))],
      ['GenerateDataKey AES_256', () => kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }))],
      ['GenerateDataKey AES_256 + Recipient', () => kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', Recipient }))],
    ])
    console.log(`  ratio GenerateDataKey / baseline GenerateRandom: ${(gdk / base).toFixed(2)}`)
    console.log(`  ratio GenerateDataKey with Recipient / without: ${(gdkR / gdk).toFixed(2)}`)
    console.log('latency:')
    for (const [spec, n] of [['ECC_NIST_P256', 200], ['RSA_2048', 40]] as const) {
      const [plain, withR] = await latencies(
        [
          [`baseline GenerateDataKeyPair ${spec}`, () => kms.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: spec }))],
          [`GenerateDataKeyPair ${spec} + Recipient`, () => kms.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: spec, Recipient }))],
        ],
        n,
      )
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
