/**
 * NSM simulator and protocol throughput, each against a baseline run in this process:
 *   - attest: NsmSimulator.attest (payload encoding, chain check, ES384 signature) against one
 *     bare node:crypto ECDSA P-384 signature over a Sig_structure of the same size (the floor);
 *   - server: the same attest through the NSM server on a unix socket (framing, codec, one
 *     connection per request) against the in-process call;
 *   - codec: decodeResponse (strict) of an Attestation response against cbor-x's decode of the
 *     same bytes.
 *
 * Run: npm run bench:nsm   (builds, then node dist/bench/nsm.js)
 * @module
 */
import { generateKeyPairSync, sign } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { decode as cborxDecode } from 'cbor-x'
import { silentLogger } from '../common/log.js'
import { decodeResponse, encodeResponse, openAttester, serveNsm } from '../nsm/index.js'
import { NsmSimulator } from '../nsm/simulator/index.js'
import { sigStructure, PROTECTED_HEADER } from '../nsm/simulator/document.js'

const ROUND_MS = Number(process.env.BENCH_MS ?? 1000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)

async function rate(fn: () => unknown): Promise<number> {
  for (let i = 0; i < 10; i++) await fn()
  let best = 0
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0
    const start = process.hrtime.bigint()
    const end = start + BigInt(ROUND_MS) * 1_000_000n
    let now = start
    while (now < end) {
      await fn()
      n++
      now = process.hrtime.bigint()
    }
    best = Math.max(best, n / (Number(now - start) / 1e9))
  }
  return best
}

const fmt = (x: number): string => x.toFixed(x < 100 ? 1 : 0)

async function main(): Promise<void> {
  const sim = await NsmSimulator.ephemeral({ logger: silentLogger })
  const spki = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' })
  const nonce = Buffer.alloc(32, 7)
  const doc = await sim.attest({ publicKey: spki, nonce })

  // baseline: one signature over a Sig_structure as large as the real one
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' })
  const payload = Buffer.alloc(doc.length - 120, 1)
  const tbs = sigStructure(PROTECTED_HEADER, payload)
  const signOnly = await rate(() => sign('sha384', tbs, { key: privateKey, dsaEncoding: 'ieee-p1363' }))
  const attest = await rate(() => sim.attest({ publicKey: spki, nonce }))

  const dir = mkdtempSync(join(tmpdir(), 'bench-nsm-'))
  const address = `unix:${join(dir, 'nsm.sock')}`
  const listener = await serveNsm(sim, address)
  const client = await openAttester(address)
  const server = await rate(() => client.attest({ publicKey: spki, nonce }))
  await client.close()
  await listener.close()
  rmSync(dir, { recursive: true, force: true })

  const response = encodeResponse({ type: 'Attestation', document: doc })
  const strict = await rate(() => decodeResponse(response))
  const cborx = await rate(() => cborxDecode(response))

  const lines = [
    `NSM bench (node ${process.version}, ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; best of ${ROUNDS} x ${ROUND_MS} ms)`,
    `document: ${doc.length} bytes (RSA-2048 public_key, 32-byte nonce)`,
    `attest    simulator in-process  ${fmt(attest)}/s   baseline bare ES384 sign ${fmt(signOnly)}/s   ratio ${(attest / signOnly).toFixed(2)}`,
    `attest    via unix NSM server   ${fmt(server)}/s   baseline in-process attest ${fmt(attest)}/s   ratio ${(server / attest).toFixed(2)}`,
    `decode    strict decodeResponse ${fmt(strict)}/s   baseline cbor-x decode ${fmt(cborx)}/s   ratio ${(strict / cborx).toFixed(2)}`,
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
}

await main()
