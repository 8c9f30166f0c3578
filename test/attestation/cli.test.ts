// `nitro-recipient attestation verify` and `nitro-recipient demo`, run in-process.
import { webcrypto } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { main } from '../../attestation/main.js'
import { main as demoMain, runDemo } from '../../cli/demo/main.js'
import { sequence20250404 } from '../../attestation/samples.js'
import { captureIo } from '../helpers/io.js'
import { buildPki, issue, makeDoc, payloadFields, toPem, DOC_TIME } from './test-ca.js'
import { fixture } from './fixtures.js'

const SEQ_FILE = 'test/fixtures/attestation/sequence-2025-04-04.cbor'
const PCR0 = fixture('sequence-2025-04-04.cbor').pcr0
const tmp = mkdtempSync(join(tmpdir(), 'nr-attestation-cli-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

async function run(args: string[], stdin: Buffer | string = ''): Promise<{ code: number; out: string; err: string }> {
  const c = captureIo(stdin)
  const code = await main(args, c.io)
  return { code, out: c.stdout(), err: c.stderr() }
}

describe('attestation verify', () => {
  test('--at doc --json exits 0 and prints PCR0', async () => {
    const r = await run(['verify', SEQ_FILE, '--at', 'doc', '--json'])
    expect(r.code).toBe(0)
    const j = JSON.parse(r.out) as Record<string, unknown>
    expect(j).toMatchObject({ ok: true, module_id: 'i-01721714461f7afa6-enc01953e42450be060', kind: 'enclave', timestamp: '2025-04-04T18:39:07.519Z', user_data: null, nonce: null })
    expect((j.pcrs as Record<string, string>)['0']).toBe(PCR0)
    expect(Buffer.from(j.public_key as string, 'base64')).toHaveLength(294)
  })
  test('without --at it exits 1 with the expiry code', async () => {
    const r = await run(['verify', SEQ_FILE])
    expect(r.code).toBe(1)
    expect(r.err).toContain('ERR_ATTESTATION_CERTIFICATE_EXPIRED')
    expect(r.out).toBe('')
  })
  test('--json failures also print a JSON error on stdout', async () => {
    const r = await run(['verify', SEQ_FILE, '--json'])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, error: { code: 'ERR_ATTESTATION_CERTIFICATE_EXPIRED' } })
  })
  test('an explicit ISO time inside the window, reading stdin, with a summary', async () => {
    const { readFileSync } = await import('node:fs')
    const r = await run(['verify', '-', '--at', '2025-04-04T19:00:00Z', '--pcr', `0=${PCR0}`], readFileSync(SEQ_FILE))
    expect(r.code).toBe(0)
    expect(r.out).toContain('VERIFIED')
    expect(r.out).toContain(PCR0)
  })
  test('--pcr mismatch and --nonce mismatch exit 1 with their codes', async () => {
    const bad = await run(['verify', SEQ_FILE, '--at', 'doc', '--pcr', `1=${PCR0}`])
    expect([bad.code, bad.err.includes('ERR_ATTESTATION_PCR_MISMATCH')]).toEqual([1, true])
    const nonce = await run(['verify', SEQ_FILE, '--at', 'doc', '--nonce', '00'])
    expect([nonce.code, nonce.err.includes('ERR_ATTESTATION_NONCE_MISMATCH')]).toEqual([1, true])
  })
  test('debug documents need --allow-debug', async () => {
    const file = 'test/fixtures/attestation/fastcrypto-2024-11-14.cbor'
    expect((await run(['verify', file, '--at', 'doc'])).err).toContain('ERR_ATTESTATION_DEBUG_MODE')
    expect((await run(['verify', file, '--at', 'doc', '--allow-debug'])).code).toBe(0)
  })
  test('--root replaces the AWS anchor', async () => {
    const pki = await buildPki()
    const docFile = join(tmp, 'test.cbor')
    writeFileSync(docFile, await makeDoc(pki.leaf.keys.privateKey, pki, { fields: payloadFields(pki) }))
    const rootFile = join(tmp, 'root.pem')
    writeFileSync(rootFile, pki.rootPem)
    const at = new Date(DOC_TIME).toISOString()
    expect((await run(['verify', docFile, '--at', at])).err).toContain('ERR_ATTESTATION_CHAIN_UNTRUSTED')
    expect((await run(['verify', docFile, '--at', at, '--root', rootFile])).code).toBe(0)
    // inline PEM text: parseArgs needs the --root=<value> form for a value starting with '-'
    expect((await run(['verify', docFile, '--at', at, `--root=${pki.rootPem}`])).code).toBe(0)
    expect((await run(['verify', docFile, '--at', at, '--root=-----BEGIN CERTIFICATE-----\nAAAA\n'])).code).toBe(2)
    // and then the real AWS document is untrusted
    expect((await run(['verify', SEQ_FILE, '--at', 'doc', '--root', rootFile])).err).toContain('ERR_ATTESTATION_CHAIN_UNTRUSTED')
  })
  test('a --root that is a certificate but not a usable anchor (P-256) is a usage error, not an internal one', async () => {
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
    const rootFile = join(tmp, 'p256-root.pem')
    writeFileSync(rootFile, toPem((await issue({ cn: 'p256-root', ca: true }, undefined, { keys })).der))
    const r = await run(['verify', SEQ_FILE, '--at', 'doc', '--root', rootFile])
    expect(r.code).toBe(2)
    expect(r.err).toContain('public key is not EC P-384')
  })
  test('a --root that never ends (a character device) is refused after 64 KiB, not read to exhaustion', async () => {
    const r = await run(['verify', SEQ_FILE, '--at', 'doc', '--root', '/dev/zero'])
    expect(r.code).toBe(2)
    expect(r.err).toContain('--root /dev/zero: larger than 65536 bytes')
  })
  test('an over-cap input is a typed failure, not a usage error', async () => {
    const big = join(tmp, 'big.cbor')
    writeFileSync(big, Buffer.alloc(262145))
    const r = await run(['verify', big])
    expect([r.code, r.err.includes('ERR_ATTESTATION_TOO_LARGE')]).toEqual([1, true])
  })
  test.each([
    [[]],
    [['frobnicate']],
    [['verify']],
    [['verify', 'a', 'b']],
    [['verify', SEQ_FILE, '--at', 'yesterday']],
    [['verify', SEQ_FILE, '--at', '2025-04-04T19:00:00']],
    [['verify', SEQ_FILE, '--at', '2025-02-30T00:00:00Z']], // not 2025-03-02
    [['verify', SEQ_FILE, '--at', '2025-04-31T19:00:00Z']],
    [['verify', SEQ_FILE, '--pcr', '0=zz']],
    [['verify', SEQ_FILE, '--pcr', '32=' + PCR0]],
    [['verify', SEQ_FILE, '--pcr', '0=00']],
    [['verify', SEQ_FILE, '--at', 'doc', '--pcr', `0=${PCR0}`, '--pcr', `0=${PCR0}`]],
    // the same PCR spelt twice, a wrong value first: the second must not silently replace it
    [['verify', SEQ_FILE, '--at', 'doc', '--pcr', `0=${'ff'.repeat(48)}`, '--pcr', `00=${PCR0}`]],
    [['verify', SEQ_FILE, '--nonce', 'abc']],
    [['verify', SEQ_FILE, '--root', join(tmp, 'missing.pem')]],
    [['verify', '-', '--root', '-']],
    [['verify', join(tmp, 'missing.cbor')]],
    [['verify', SEQ_FILE, '--bogus']],
  ])('usage error %j exits 2', async (args) => {
    const r = await run(args)
    expect(r.code).toBe(2)
  })
  test('--help', async () => {
    const r = await run(['--help'])
    expect(r.code).toBe(0)
    expect(r.out).toContain('--at <ISO-8601>|doc')
    expect((await run(['verify', '--help'])).out).toContain('--allow-debug')
  })
})

describe('attestation decode', () => {
  test('prints the fields, marked unverified, even for an expired document', async () => {
    const r = await run(['decode', SEQ_FILE])
    expect(r.code).toBe(0)
    const j = JSON.parse(r.out) as Record<string, unknown>
    expect(j).toMatchObject({ verified: false, kind: 'enclave', timestamp_ms: 1743791947519, tagged: false })
    expect((j.pcrs as Record<string, string>)['0']).toBe(PCR0)
    expect(j.cabundle).toHaveLength(4)
  })
  test('malformed input exits 1 with its code', async () => {
    const r = await run(['decode', 'test/fixtures/attestation/INVALID-base-corrupt-cbor-2026-01-03.cbor'])
    expect([r.code, r.err.includes('ERR_ATTESTATION_MALFORMED')]).toEqual([1, true])
  })
})

describe('demo', () => {
  test('the bundled sample is byte-identical to the committed fixture', () => {
    expect(Buffer.from(sequence20250404().document).equals(Buffer.from(fixture('sequence-2025-04-04.cbor').bytes))).toBe(true)
  })
  test('verifies the bundled document and prints its summary', async () => {
    const c = captureIo()
    expect(await runDemo(c.io)).toBe(0)
    expect(c.stdout()).toContain('VERIFIED')
    expect(c.stdout()).toContain(PCR0)
    expect(c.stdout()).toContain('i-01721714461f7afa6-enc01953e42450be060')
  })
  test('rejects arguments, answers --help', async () => {
    const c = captureIo()
    expect(await demoMain(['x'], c.io)).toBe(2)
    const h = captureIo()
    expect(await demoMain(['--help'], h.io)).toBe(0)
  })
})

describe('the installed launcher (bin/nitro-recipient.js, after npm run build)', () => {
  test('must-show: --at doc --json exits 0 with PCR0; without --at exits 1 with the expiry code', async () => {
    const { spawnSync } = await import('node:child_process')
    const ok = spawnSync(process.execPath, ['bin/nitro-recipient.js', 'attestation', 'verify', SEQ_FILE, '--at', 'doc', '--json'], { encoding: 'utf8' })
    expect(ok.status).toBe(0)
    expect((JSON.parse(ok.stdout) as { pcrs: Record<string, string> }).pcrs['0']).toBe(PCR0)
    const expired = spawnSync(process.execPath, ['bin/nitro-recipient.js', 'attestation', 'verify', SEQ_FILE], { encoding: 'utf8' })
    expect(expired.status).toBe(1)
    expect(expired.stderr).toContain('ERR_ATTESTATION_CERTIFICATE_EXPIRED')
  })
})
