// The `nitro-recipient nsm` CLI, run in-process, including the README's "must show":
// `nsm simulator init --dir D`, serve it, `nsm attest --nsm <address>`, and
// `attestation verify --root D/root.pem --json` accepts the document while the AWS root rejects it.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { captureIo } from '../helpers/io.js'
import { silentLogger } from '../../common/log.js'
import { main as nsmMain, simulatorServe } from '../../nsm/main.js'
import { main as attestationMain } from '../../attestation/main.js'
import { startSimulatorServer, type SimulatorServer } from '../../nsm/simulator/serve.js'
import { NsmSimulator } from '../../nsm/simulator/simulator.js'
import { writeEif } from '../../eif-build/writer.js'
import { bufferSource } from '../../eif-build/source.js'

let work: string
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'nsm-cli-'))
})
afterAll(() => rmSync(work, { recursive: true, force: true }))

async function nsm(args: string[]) {
  const cap = captureIo()
  const raw: Buffer[] = []
  cap.io.stdout.on('data', (c: Buffer) => raw.push(c))
  const code = await nsmMain(args, cap.io)
  return { code, stdout: cap.stdout(), stderr: cap.stderr(), bytes: Buffer.concat(raw) }
}

async function verify(args: string[]) {
  const cap = captureIo()
  const code = await attestationMain(['verify', ...args], cap.io)
  return { code, stdout: cap.stdout(), stderr: cap.stderr() }
}

describe('must show: init, serve, attest over the NSM protocol, verify with the CLI', () => {
  let dir: string
  let server: SimulatorServer
  afterAll(async () => {
    await server?.listener.close()
  })

  test('the whole flow', async () => {
    dir = join(work, 'sim')
    const init = await nsm(['simulator', 'init', '--dir', dir, '--json'])
    expect(init.code, init.stderr).toBe(0)
    const info = JSON.parse(init.stdout) as { root: string; module_id: string }
    expect(info.root).toBe(join(dir, 'root.pem'))

    // `nsm simulator serve` is this call plus a wait for SIGTERM
    server = await startSimulatorServer(dir, `unix:${join(work, 'nsm.sock')}`, { logger: silentLogger })
    expect(server.address).toBe(`unix:${join(work, 'nsm.sock')}`)

    const docPath = join(work, 'doc.cbor')
    const attest = await nsm(['attest', '--nsm', server.address, '--nonce', '00112233', '--user-data', 'cafe', '--out', docPath])
    expect(attest.code, attest.stderr).toBe(0)

    const ok = await verify([docPath, '--root', info.root, '--json', '--nonce', '00112233'])
    expect(ok.code, ok.stderr).toBe(0)
    const result = JSON.parse(ok.stdout) as Record<string, unknown>
    expect(JSON.stringify(result)).toContain(info.module_id)
    expect(JSON.stringify(result)).toContain('cafe')

    const aws = await verify([docPath, '--json'])
    expect(aws.code).toBe(1)
    expect(aws.stdout + aws.stderr).toContain('ERR_ATTESTATION_CHAIN_UNTRUSTED')
  })

  test('attest to stdout writes the raw document bytes', async () => {
    const r = await nsm(['attest', '--nsm', server.address])
    expect(r.code, r.stderr).toBe(0)
    expect(r.bytes.subarray(0, 7).toString('hex')).toBe('8444a1013822a0')
    const p = join(work, 'stdout.cbor')
    writeFileSync(p, r.bytes)
    expect((await verify([p, '--root', join(dir, 'root.pem')])).code).toBe(0)
  })

  test('--public-key (PEM and DER) is bound into the document', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const pem = join(work, 'pub.pem')
    const der = join(work, 'pub.der')
    writeFileSync(pem, publicKey.export({ type: 'spki', format: 'pem' }))
    writeFileSync(der, publicKey.export({ type: 'spki', format: 'der' }))
    for (const f of [pem, der]) {
      const out = join(work, 'pk.cbor')
      expect((await nsm(['attest', '--nsm', `simulator:${dir}`, '--public-key', f, '--out', out])).code).toBe(0)
      const v = await verify([out, '--root', join(dir, 'root.pem'), '--json'])
      expect(v.code, v.stderr).toBe(0)
      expect(v.stdout).toContain(publicKey.export({ type: 'spki', format: 'der' }).toString('base64'))
    }
    const bogus = join(work, 'bogus.pem')
    writeFileSync(bogus, 'not a key')
    expect((await nsm(['attest', '--nsm', `simulator:${dir}`, '--public-key', bogus])).code).toBe(2)
    // a private key is refused, although node:crypto would derive its public half
    const priv = join(work, 'priv.pem')
    writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }))
    expect((await nsm(['attest', '--nsm', `simulator:${dir}`, '--public-key', priv])).code).toBe(2)
  })

  test('describe prints DescribeNSM and all 32 PCRs as JSON', async () => {
    const r = await nsm(['describe', '--nsm', server.address])
    expect(r.code, r.stderr).toBe(0)
    const d = JSON.parse(r.stdout) as { max_pcrs: number; locked_pcrs: number[]; pcrs: Record<string, { locked: boolean; value: string }>; digest: string }
    expect(d.max_pcrs).toBe(32)
    expect(d.digest).toBe('SHA384')
    expect(Object.keys(d.pcrs)).toHaveLength(32)
    expect(d.locked_pcrs).toEqual([...Array(16).keys()])
    expect(d.pcrs['16']).toEqual({ locked: false, value: '00'.repeat(48) })
  })
})

describe('simulator serve (the command itself)', () => {
  test('serves on tcp://127.0.0.1:0, prints the bound address, answers, stops when told', async () => {
    const dir = join(work, 'serve-cmd')
    expect((await nsm(['simulator', 'init', '--dir', dir])).code).toBe(0)
    const cap = captureIo()
    let release!: () => void
    const stopped = new Promise<void>((r) => (release = r))
    const running = simulatorServe(['--dir', dir, '--listen', 'tcp://127.0.0.1:0'], cap.io, () => stopped)
    // the address line is the first thing written; wait for it (or for the command to fail)
    await Promise.race([new Promise((r) => cap.io.stdout.once('data', r)), running])
    const line = cap.stdout()
    const m = /^listening on (tcp:\/\/127\.0\.0\.1:(\d+))\n$/.exec(line)
    expect(m, line).not.toBeNull()
    expect(Number(m![2])).toBeGreaterThan(0)
    const r = await nsm(['attest', '--nsm', m![1], '--out', join(work, 'tcp.cbor')])
    expect(r.code, r.stderr).toBe(0)
    expect((await verify([join(work, 'tcp.cbor'), '--root', join(dir, 'root.pem')])).code).toBe(0)
    release()
    expect(await running).toBe(0)
    // the port is closed now
    expect((await nsm(['attest', '--nsm', m![1], '--out', join(work, 'tcp2.cbor')])).stderr).toContain('ERR_NSM_TRANSPORT')
  })

  test('missing options are usage errors; a directory that is not a simulator is ERR_NSM_SIMULATOR_STATE', async () => {
    expect((await nsm(['simulator', 'serve', '--dir', work])).code).toBe(2)
    expect((await nsm(['simulator', 'serve', '--listen', 'unix:/tmp/x.sock'])).code).toBe(2)
    const r = await nsm(['simulator', 'serve', '--dir', join(work, 'nothing-here'), '--listen', `unix:${join(work, 'n.sock')}`])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('ERR_NSM_SIMULATOR_STATE')
  })
})

describe('CLI usage and failures', () => {
  test('--help exits 0; no command exits 2; unknown command exits 2', async () => {
    expect((await nsm(['--help'])).stdout).toContain('simulator serve')
    expect((await nsm([])).code).toBe(2)
    expect((await nsm(['frobnicate'])).code).toBe(2)
    expect((await nsm(['simulator', 'bake'])).code).toBe(2)
    expect((await nsm(['attest', '--help'])).code).toBe(0)
  })

  test('attest refuses to write binary to a terminal before asking any NSM', async () => {
    const cap = captureIo()
    ;(cap.io.stdout as unknown as { isTTY: boolean }).isTTY = true
    const code = await nsmMain(['attest', '--nsm', '/nonexistent/nsm'], cap.io)
    expect(code).toBe(2)
    expect(cap.stderr()).toContain('refusing to write a binary document to a terminal')
  })

  test('without an NSM the error names the simulator option', async () => {
    const r = await nsm(['attest', '--nsm', '/nonexistent/nsm'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/ERR_NSM_UNAVAILABLE.*simulator serve/s)
  })

  test('bad hex, oversized fields, bad PCR values are usage errors; NSM limits are NSM errors', async () => {
    expect((await nsm(['attest', '--nsm', '/x', '--nonce', 'zz'])).code).toBe(2)
    expect((await nsm(['simulator', 'init', '--dir', join(work, 'p'), '--pcr0', 'abcd'])).code).toBe(2)
    expect((await nsm(['simulator', 'init'])).code).toBe(2)
    const dir = join(work, 'limits')
    expect((await nsm(['simulator', 'init', '--dir', dir])).code).toBe(0)
    const r = await nsm(['attest', '--nsm', `simulator:${dir}`, '--user-data', 'ab'.repeat(1025)])
    expect(r.code).toBe(2) // longer than 1024 bytes: refused while parsing
    const r2 = await nsm(['attest', '--nsm', `simulator:${dir}`, '--user-data', 'ab'.repeat(1024), '--out', join(work, 'max.cbor')])
    expect(r2.code, r2.stderr).toBe(0)
  })

  test('init refuses an initialised directory; files and modes are as documented', async () => {
    const dir = join(work, 'twice')
    expect((await nsm(['simulator', 'init', '--dir', dir, '--pcr8', 'ab'.repeat(48), '--debug'])).code).toBe(0)
    const again = await nsm(['simulator', 'init', '--dir', dir])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('ERR_NSM_SIMULATOR_STATE')
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    for (const level of ['root', 'regional', 'zonal', 'instance', 'leaf']) {
      expect(statSync(join(dir, `${level}.key`)).mode & 0o777).toBe(0o600)
      expect(readFileSync(join(dir, `${level}.pem`), 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----\n/)
    }
    const cfg = JSON.parse(readFileSync(join(dir, 'simulator.json'), 'utf8')) as { debug: boolean; pcrs: Record<string, string> }
    expect(cfg.debug).toBe(true)
    expect(cfg.pcrs).toEqual({ 8: 'ab'.repeat(48) })
  })
})

describe('boot PCRs from an EIF', () => {
  test('simulator init --eif: PCR0/1/2 are the EIF measurements and documents carry them', async () => {
    const eif = join(work, 'app.eif')
    const res = await writeEif(eif, {
      kernel: bufferSource(randomBytes(20_000)),
      cmdline: 'console=ttyS0',
      metadata: Buffer.from('{"ImageName":"t","ImageVersion":"1","BuildMetadata":{},"DockerInfo":null,"CustomMetadata":null}'),
      arch: 'x86_64',
      ramdisks: [bufferSource(randomBytes(3000)), bufferSource(randomBytes(5000))],
    })
    const dir = join(work, 'eif-sim')
    const r = await nsm(['simulator', 'init', '--dir', dir, '--eif', eif])
    expect(r.code, r.stderr).toBe(0)
    const sim = await NsmSimulator.open(dir, { logger: silentLogger })
    const m = res.measurements as { pcr0: string; pcr1: string; pcr2: string }
    expect(Buffer.from((await sim.describePcr(0)).data).toString('hex')).toBe(m.pcr0)
    expect(Buffer.from((await sim.describePcr(1)).data).toString('hex')).toBe(m.pcr1)
    expect(Buffer.from((await sim.describePcr(2)).data).toString('hex')).toBe(m.pcr2)
    const doc = join(work, 'eif-doc.cbor')
    expect((await nsm(['attest', '--nsm', `simulator:${dir}`, '--out', doc])).code).toBe(0)
    const v = await verify([doc, '--root', join(dir, 'root.pem'), '--pcr', `0=${m.pcr0}`, '--pcr', `2=${m.pcr2}`])
    expect(v.code, v.stderr).toBe(0)
    // a file that is not an EIF is refused with eif-build's error, and nothing is created
    writeFileSync(join(work, 'not.eif'), 'nope')
    const bad = await nsm(['simulator', 'init', '--dir', join(work, 'never'), '--eif', join(work, 'not.eif')])
    expect(bad.code).toBe(1)
    expect(() => statSync(join(work, 'never'))).toThrow()
  })
})
