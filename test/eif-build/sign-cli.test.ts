import { execFileSync, spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { existsSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { EIF_ERROR_CODES, EifError } from '../../eif-build/errors.js'
import { decodeCbor, encodeCbor } from '../../common/cbor.js'
import { attestationContext, evaluatePolicy, parsePolicy } from '../../kms-local/policy.js'
import { keyPolicyStatements } from '../../eif-build/policy.js'
import { certificateSummary, checkSignatureSection, encodeSignatureSection, loadSigningMaterial } from '../../eif-build/signature.js'
import { main } from '../../eif-build/main.js'
import { buildEif, trimCmdline } from '../../eif-build/build.js'
import { readEifMeasurements, verifyEif } from '../../eif-build/reader.js'
import { captureIo } from '../helpers/io.js'
import { fixCrc, pcr, rawSections, standInBlobs, tempDir } from './helpers.js'

const tmp = tempDir('cli')
afterAll(() => tmp.cleanup())
const blobs = standInBlobs(tmp.dir)
const rootfs = join(tmp.dir, 'rootfs')
mkdirSync(join(rootfs, 'app'), { recursive: true })
writeFileSync(join(rootfs, 'app/server'), 'server binary')

function keypair(name: string, algo: string[]): { cert: string; key: string } {
  const cert = join(tmp.dir, `${name}.crt`)
  const key = join(tmp.dir, `${name}.key`)
  execFileSync('openssl', ['req', '-x509', ...algo, '-nodes', '-subj', `/C=US/O=Test/CN=${name}`, '-days', '2', '-keyout', key, '-out', cert], { stdio: 'ignore' })
  return { cert, key }
}
const p384 = keypair('p384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'])

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = captureIo()
  const code = await main(argv, c.io)
  return { code, out: c.stdout(), err: c.stderr() }
}

const buildArgs = (output: string): string[] => ['build', '--blobs', blobs, '--rootfs', rootfs, '--cmd', '/app/server', '--env', 'MODE=prod', '--output', output]

describe('must show: build a directory rootfs, describe it, build again', () => {
  it('describe: CheckCRC true and the PCRs build printed; a second build gives the same PCRs and bytes', async () => {
    process.env.SOURCE_DATE_EPOCH = '1700000000'
    try {
      const first = await run(buildArgs(join(tmp.dir, 'one.eif')))
      expect(first.code).toBe(0)
      const built = JSON.parse(first.out)
      expect(Object.keys(built)).toEqual(['Measurements'])
      expect(Object.keys(built.Measurements)).toEqual(['HashAlgorithm', 'PCR0', 'PCR1', 'PCR2'])
      expect(built.Measurements.HashAlgorithm).toBe('Sha384 { ... }')
      expect(first.out).toBe(`${JSON.stringify(built, null, 2)}\n`)

      const desc = await run(['describe', join(tmp.dir, 'one.eif')])
      expect(desc.code).toBe(0)
      const d = JSON.parse(desc.out)
      expect(Object.keys(d)).toEqual(['EifVersion', 'Measurements', 'IsSigned', 'CheckCRC', 'ImageName', 'ImageVersion', 'Metadata'])
      expect(d.EifVersion).toBe(4)
      expect(d.CheckCRC).toBe(true)
      expect(d.IsSigned).toBe(false)
      expect(d.Measurements).toEqual(built.Measurements)
      expect(d.Metadata.BuildTime).toBe('2023-11-14T22:13:20+00:00')

      const second = await run(buildArgs(join(tmp.dir, 'two.eif')))
      expect(JSON.parse(second.out)).toEqual(built)
      expect(readFileSync(join(tmp.dir, 'one.eif')).equals(readFileSync(join(tmp.dir, 'two.eif')))).toBe(true)

      // PCRs from the formulas over the file's own sections
      const secs = rawSections(readFileSync(join(tmp.dir, 'one.eif')))
      const [k, c, , r0, r1] = secs.map((s) => s.data)
      expect(built.Measurements.PCR0).toBe(pcr(k, c, r0, r1))
      expect(built.Measurements.PCR1).toBe(pcr(k, c, r0))
      expect(built.Measurements.PCR2).toBe(pcr(r1))
      expect(c.toString()).toBe('reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on') // trimmed

      const p = await run(['pcrs', join(tmp.dir, 'one.eif')])
      expect(JSON.parse(p.out)).toEqual(built)
    } finally {
      delete process.env.SOURCE_DATE_EPOCH
    }
  })

  it('SOURCE_DATE_EPOCH must give an RFC 3339 date (years up to 9999)', async () => {
    const b = (epoch: string) => buildEif({ blobs, rootfs: { kind: 'directory', path: rootfs }, cmd: ['/x'], output: join(tmp.dir, 'epoch.eif'), sourceDateEpoch: epoch })
    for (const bad of ['253402300800', '999999999999', '-1', '1.5', ' 1']) await expect(b(bad), bad).rejects.toMatchObject({ code: 'ERR_EIF_INPUT' })
    await b('253402300799')
    expect((await verifyEif(join(tmp.dir, 'epoch.eif'))).metadata?.BuildMetadata).toMatchObject({ BuildTime: '9999-12-31T23:59:59+00:00' })
  })

  it('refuses to write the EIF inside the rootfs it reads', async () => {
    const r = await run(['build', '--blobs', blobs, '--rootfs', rootfs, '--cmd', '/app/server', '--output', join(rootfs, 'app', 'x.eif')])
    expect(r.code).toBe(1)
    expect(r.err).toContain('ERR_EIF_INPUT')
  })

  it('refuses an output that is one of its inputs (it used to truncate, then delete, the kernel)', async () => {
    const b = join(tmp.dir, 'ownblobs')
    mkdirSync(b)
    for (const f of ['bzImage', 'cmdline', 'init', 'nsm.ko']) writeFileSync(join(b, f), readFileSync(join(blobs, f)))
    const kernel = readFileSync(join(b, 'bzImage'))
    linkSync(join(b, 'init'), join(tmp.dir, 'init-hardlink.eif'))
    for (const [output, what] of [
      [join(b, 'bzImage'), 'kernel'],
      [join(b, '..', 'ownblobs', 'cmdline'), 'cmdline'],
      [join(tmp.dir, 'init-hardlink.eif'), 'init'],
      [p384.key, 'private key'],
    ]) {
      const r = await run(['build', '--blobs', b, '--rootfs', rootfs, '--cmd', '/x', '--signing-certificate', p384.cert, '--private-key', p384.key, '--output', output])
      expect(r.code, output).toBe(1)
      expect(r.err).toContain(`ERR_EIF_INPUT: --output ${output} is the ${what}`)
    }
    expect(readFileSync(join(b, 'bzImage')).equals(kernel)).toBe(true)
    expect(readFileSync(p384.key, 'utf8')).toContain('PRIVATE KEY')
  })

  it('a failed build leaves no file behind', async () => {
    const bad = join(tmp.dir, 'badroot')
    mkdirSync(join(bad, 'x'), { recursive: true })
    symlinkSync('../../outside', join(bad, 'x', 'l'))
    const out = join(tmp.dir, 'failed.eif')
    const r = await run(['build', '--blobs', blobs, '--rootfs', bad, '--cmd', '/x', '--output', out])
    expect(r.code).toBe(1)
    expect(r.err).toContain('ERR_EIF_ROOTFS_SYMLINK')
    expect(existsSync(out)).toBe(false)
  })

  it('--arch aarch64 takes Image from the blobs and sets the header flag; single-file flags override blobs', async () => {
    const arm = join(tmp.dir, 'armblobs')
    mkdirSync(arm)
    writeFileSync(join(arm, 'Image'), Buffer.alloc(5000, 1))
    writeFileSync(join(arm, 'cmdline'), 'console=ttyS0\n')
    writeFileSync(join(arm, 'init'), Buffer.alloc(100, 2))
    writeFileSync(join(arm, 'nsm.ko'), Buffer.alloc(100, 3))
    const out = join(tmp.dir, 'arm.eif')
    const r = await run(['build', '--blobs', arm, '--arch', 'aarch64', '--rootfs', rootfs, '--cmd', '/app/server', '--output', out])
    expect(r.code).toBe(0)
    const f = readFileSync(out)
    expect(f.readUInt16BE(6)).toBe(1)
    const secs = rawSections(f)
    expect(secs[0].data.equals(Buffer.alloc(5000, 1))).toBe(true)
    writeFileSync(join(tmp.dir, 'other-cmdline'), '  quiet  \n')
    const out2 = join(tmp.dir, 'arm2.eif')
    expect((await run(['build', '--blobs', arm, '--arch', 'aarch64', '--cmdline', join(tmp.dir, 'other-cmdline'), '--rootfs', rootfs, '--cmd', '/x', '--output', out2])).code).toBe(0)
    expect(rawSections(readFileSync(out2))[1].data.toString()).toBe('quiet')
    expect((await run(['build', '--blobs', arm, '--rootfs', rootfs, '--cmd', '/x', '--arch', 'x86_64', '--output', join(tmp.dir, 'nokernel.eif')])).err).toContain('ERR_EIF_INPUT')
  })

  it('the cmdline is trimmed as Rust trims: Unicode White_Space only (a BOM stays, NEL and NBSP go)', async () => {
    expect(trimCmdline(Buffer.from(' \t console=ttyS0 quiet \r\n'))).toBe('console=ttyS0 quiet')
    expect(trimCmdline(Buffer.from('\u0085\u00a0\u3000console=ttyS0\u2029\u0085'))).toBe('console=ttyS0')
    expect(trimCmdline(Buffer.from('\ufeffconsole=ttyS0\n'))).toBe('\ufeffconsole=ttyS0') // not White_Space; JS trim() drops it
    expect(trimCmdline(Buffer.from('console=ttyS0\u200b'))).toBe('console=ttyS0\u200b') // zero-width space is not White_Space either
    expect(() => trimCmdline(Buffer.from([0x61, 0xff]))).toThrow(expect.objectContaining({ code: 'ERR_EIF_INPUT' }))
    // and the section holds exactly those bytes
    writeFileSync(join(tmp.dir, 'bom-cmdline'), '\ufeffconsole=ttyS0\u0085\n')
    const out = join(tmp.dir, 'bom.eif')
    await buildEif({ blobs, cmdline: join(tmp.dir, 'bom-cmdline'), rootfs: { kind: 'directory', path: rootfs }, cmd: ['/x'], output: out })
    expect(rawSections(readFileSync(out))[1].data.toString('hex')).toBe(Buffer.from('\ufeffconsole=ttyS0').toString('hex'))
    expect((await verifyEif(out)).cmdline).toBe('\ufeffconsole=ttyS0')
  })

  it('the CLI process exits after a failure with hash workers running (built CLI)', () => {
    const bad = join(tmp.dir, 'badbig')
    mkdirSync(join(bad, 'z'), { recursive: true })
    writeFileSync(join(bad, 'a-big'), Buffer.alloc(20 << 20, 7)) // passes the worker threshold first
    symlinkSync('../../outside', join(bad, 'z', 'l'))
    const bin = new URL('../../bin/nitro-recipient.js', import.meta.url).pathname
    const r = spawnSync(process.execPath, [bin, 'eif', 'build', '--blobs', blobs, '--rootfs', bad, '--cmd', '/x', '--output', join(tmp.dir, 'badbig.eif')], { encoding: 'utf8', timeout: 50_000 })
    expect(r.signal).toBeNull() // not killed by the timeout: nothing kept the process alive
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('ERR_EIF_ROOTFS_SYMLINK')
  })

  it('unreadable inputs are typed errors (exit 1), not internal errors; a FIFO kernel config is skipped, not read', async () => {
    const sign = (cert: string, key: string) => run([...buildArgs(join(tmp.dir, 'nokey.eif')), '--signing-certificate', cert, '--private-key', key])
    for (const r of [await sign(p384.cert, join(tmp.dir, 'missing.key')), await sign(tmp.dir, p384.key)]) {
      expect(r.code).toBe(1)
      expect(r.err).toContain('ERR_EIF_INPUT')
    }
    const b = join(tmp.dir, 'fifoblobs')
    mkdirSync(b)
    for (const f of ['bzImage', 'cmdline', 'init', 'nsm.ko']) writeFileSync(join(b, f), readFileSync(join(blobs, f)))
    execFileSync('mkfifo', [join(b, 'bzImage.config')])
    const r = await run(['build', '--blobs', b, '--rootfs', rootfs, '--cmd', '/x', '--output', join(tmp.dir, 'fifocfg.eif')])
    expect(r.code).toBe(0)
    execFileSync('mkfifo', [join(b, 'fifo-cmdline')])
    expect((await run(['build', '--blobs', b, '--cmdline', join(b, 'fifo-cmdline'), '--rootfs', rootfs, '--cmd', '/x', '--output', join(tmp.dir, 'fifocl.eif')])).err).toContain('ERR_EIF_INPUT')
  }, 10_000)

  it('usage errors exit 2; failures exit 1 with a code', async () => {
    expect((await run(['build', '--rootfs', rootfs])).code).toBe(2)
    expect((await run(['build', '--rootfs', rootfs, '--oci-layout', rootfs, '--output', 'x'])).code).toBe(2)
    expect((await run(['frobnicate'])).code).toBe(2)
    const missing = await run(['describe', join(tmp.dir, 'nope.eif')])
    expect(missing.code).toBe(1)
    expect(missing.err).toContain('ERR_EIF_INPUT')
    const help = await run(['--help'])
    expect(help.code).toBe(0)
    expect(help.out).toContain('--docker-archive')
  })

  it('describe prints the JSON and fails with ERR_EIF_CRC_MISMATCH on a corrupted file', async () => {
    const f = readFileSync(join(tmp.dir, 'one.eif'))
    f[f.length - 100] ^= 1
    writeFileSync(join(tmp.dir, 'corrupt.eif'), f)
    const r = await run(['describe', join(tmp.dir, 'corrupt.eif')])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.out).CheckCRC).toBe(false)
    expect(r.err).toContain('ERR_EIF_CRC_MISMATCH')
    expect((await run(['pcrs', join(tmp.dir, 'corrupt.eif')])).code).toBe(1)
  })
})

describe('signing (nitro-cli signer format)', () => {
  it('P-384: signature section, PCR8 = extend(SHA384(DER)), describe verifies', async () => {
    const out = join(tmp.dir, 'signed.eif')
    const r = await run([...buildArgs(out).slice(0, -2), '--signing-certificate', p384.cert, '--private-key', p384.key, '--output', out])
    expect(r.code).toBe(0)
    const built = JSON.parse(r.out).Measurements
    const der = execFileSync('openssl', ['x509', '-in', p384.cert, '-outform', 'DER'])
    // PCR8 = extend(DER) = SHA384(0^48 || SHA384(DER)), not the PEM bytes
    expect(built.PCR8).toBe(pcr(der))
    expect(built.PCR8).not.toBe(pcr(readFileSync(p384.cert)))
    const file = readFileSync(out)
    const secs = rawSections(file)
    expect(secs.map((s) => s.type)).toEqual([1, 2, 5, 3, 3, 4])
    // section: [ {signing_certificate: [u8], signature: [u8]} ], COSE_Sign1 untagged, {1: -35}
    const section = decodeCbor(secs[5].data, { maxItems: 100000 }) as Array<Map<string, number[]>>
    expect(Buffer.from(section[0].get('signing_certificate') as number[]).equals(readFileSync(p384.cert))).toBe(true)
    const cose = Buffer.from(section[0].get('signature') as number[])
    expect(cose.subarray(0, 6).toString('hex')).toBe('8444a1013822')
    const d = JSON.parse((await run(['describe', out])).out)
    expect(Object.keys(d)).toEqual(['EifVersion', 'Measurements', 'IsSigned', 'SigningCertificate', 'CheckCRC', 'SignatureCheck', 'ImageName', 'ImageVersion', 'Metadata'])
    expect(d.IsSigned).toBe(true)
    expect(d.SignatureCheck).toBe(true)
    expect(d.CheckCRC).toBe(true)
    expect(d.Measurements.PCR8).toBe(built.PCR8)
    // image-format's get_certificate_info: OpenSSL long names, in BTreeMap (sorted) order
    expect(Object.entries(d.SigningCertificate.IssuerName)).toEqual([['commonName', 'p384'], ['countryName', 'US'], ['organizationName', 'Test']])
    expect(d.SigningCertificate.Algorithm).toBe('ecdsa-with-SHA256')
    const m = await readEifMeasurements(out)
    expect(m.pcr8?.toString('hex')).toBe(built.PCR8)
  })

  it('P-256 and P-521 sign and verify; RSA and mismatched keys are refused', async () => {
    for (const curve of ['P-256', 'P-521']) {
      const kp = keypair(curve, ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`])
      const out = join(tmp.dir, `${curve}.eif`)
      await buildEif({ blobs, rootfs: { kind: 'directory', path: rootfs }, cmd: ['/app/server'], output: out, signingCertificate: kp.cert, privateKey: kp.key })
      expect((await verifyEif(out)).signature?.valid).toBe(true)
    }
    const rsa = keypair('rsa', ['-newkey', 'rsa:2048'])
    await expect(buildEif({ blobs, rootfs: { kind: 'directory', path: rootfs }, cmd: ['x'], output: join(tmp.dir, 'rsa.eif'), signingCertificate: rsa.cert, privateKey: rsa.key }))
      .rejects.toMatchObject({ code: 'ERR_EIF_SIGNING_KEY' })
    const other = keypair('other', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'])
    await expect(buildEif({ blobs, rootfs: { kind: 'directory', path: rootfs }, cmd: ['x'], output: join(tmp.dir, 'mm.eif'), signingCertificate: p384.cert, privateKey: other.key }))
      .rejects.toMatchObject({ code: 'ERR_EIF_SIGNING_KEY' })
  })

  it("SigningCertificate as describe-eif prints it: long names or dotted OIDs, values as Rust's {:?} without quotes", () => {
    const cnf = join(tmp.dir, 'oid.cnf')
    writeFileSync(cnf, 'oid_section = new_oids\n[new_oids]\nmyattr = 1.2.3.4\n[req]\ndistinguished_name = dn\n[dn]\n')
    const cert = join(tmp.dir, 'names.crt')
    execFileSync('openssl', ['req', '-config', cnf, '-x509', '-utf8', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
      '-subj', '/C=US/ST=Wash/L=Seattle/O=Acme "Q"/OU=back\\\\slash/CN=Café/emailAddress=a@b.c/myattr=odd/serialNumber=7',
      '-keyout', join(tmp.dir, 'names.key'), '-out', cert], { stdio: 'ignore' })
    const x = new X509Certificate(readFileSync(cert))
    const sum = certificateSummary(x)
    expect(sum.IssuerName).toEqual({
      '1.2.3.4': 'odd', // a name only this openssl.cnf knows: OBJ_obj2txt prints the OID
      commonName: 'Café',
      countryName: 'US',
      emailAddress: 'a@b.c',
      localityName: 'Seattle',
      organizationName: 'Acme \\Q\\', // {:?} gives "Acme \"Q\"", then every " is removed
      organizationalUnitName: 'back\\\\slash',
      serialNumber: '7',
      stateOrProvinceName: 'Wash',
    })
    expect(Object.keys(sum.IssuerName)).toEqual(Object.keys(sum.IssuerName).sort())
    expect(sum.Algorithm).toBe('ecdsa-with-SHA256')
    expect(sum.NotBefore).toBe(x.validFrom)
    const sig = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-text']).toString()
    const hex = /Signature Value:\n([\s0-9a-f:]+)/.exec(sig)?.[1].replace(/\s/g, '').toUpperCase()
    expect(sum.Signature).toBe(hex)
  })

  it('certificates are PEM "CERTIFICATE" blocks only, as nitro-cli reads them (X509::from_pem)', async () => {
    const der = execFileSync('openssl', ['x509', '-in', p384.cert, '-outform', 'DER'])
    const trusted = execFileSync('openssl', ['x509', '-in', p384.cert, '-trustout', '-addtrust', 'codeSigning'])
    expect(trusted.toString()).toContain('-----BEGIN TRUSTED CERTIFICATE-----')
    const key = readFileSync(p384.key)
    const pem = readFileSync(p384.cert, 'utf8')
    const old = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '-----$1 X509 CERTIFICATE-----')
    for (const cert of [der, trusted, Buffer.from(`${trusted}${pem}`), Buffer.from(`${old}${pem}`)]) {
      const k = Buffer.from(key)
      expect(() => loadSigningMaterial(cert, k)).toThrow(expect.objectContaining({ code: 'ERR_EIF_SIGNING_KEY' }))
      expect(k.every((b) => b === 0)).toBe(true) // the key is wiped on this path too
    }
    // text before the block (openssl x509 -text output), or a key block first: both read this certificate
    for (const ok of [`Certificate:\n    Data: ...\n${pem}`, `${key.toString()}${pem}`]) {
      expect(loadSigningMaterial(Buffer.from(ok), Buffer.from(key)).certificate.raw.equals(der)).toBe(true)
    }
    // the reader: a section whose certificate is DER is malformed, whatever Node could parse
    const out = join(tmp.dir, 'signed-der.eif')
    await buildEif({ blobs, rootfs: { kind: 'directory', path: rootfs }, cmd: ['/app/server'], output: out, signingCertificate: p384.cert, privateKey: p384.key })
    const file = readFileSync(out)
    const secs = rawSections(file)
    const entry = (decodeCbor(secs[5].data, { maxItems: 100000 }) as Array<Map<string, number[]>>)[0]
    const section = Buffer.from(encodeSignatureSection(der, Buffer.from(entry.get('signature') as number[])))
    const head = Buffer.from(file.subarray(0, secs[5].offset + 12))
    head.writeBigUInt64BE(BigInt(section.length), 28 + 256 + 8 * 5)
    head.writeBigUInt64BE(BigInt(section.length), secs[5].offset + 4)
    writeFileSync(join(tmp.dir, 'der-section.eif'), fixCrc(Buffer.concat([head, section])))
    await expect(verifyEif(join(tmp.dir, 'der-section.eif'))).rejects.toMatchObject({ code: 'ERR_EIF_SIGNATURE_MALFORMED' })
  })

  it('a certificate file too long for the 32 KiB signature section fails the build (with the signing material), not the reader', async () => {
    const chain = join(tmp.dir, 'long-chain.pem')
    writeFileSync(chain, readFileSync(p384.cert, 'utf8').repeat(30)) // the first block is the signing certificate
    // refused with the material, before any ramdisk is built
    expect(() => loadSigningMaterial(readFileSync(chain), readFileSync(p384.key))).toThrow(expect.objectContaining({ code: 'ERR_EIF_TOO_LARGE' }))
    const out = join(tmp.dir, 'long-chain.eif')
    await expect(buildEif({ blobs, rootfs: { kind: 'directory', path: rootfs }, cmd: ['/x'], output: out, signingCertificate: chain, privateKey: p384.key }))
      .rejects.toMatchObject({ code: 'ERR_EIF_TOO_LARGE' })
    expect(existsSync(out)).toBe(false)
    writeFileSync(chain, readFileSync(p384.cert, 'utf8').repeat(3)) // a short chain is fine
    await buildEif({ blobs, rootfs: { kind: 'directory', path: rootfs }, cmd: ['/x'], output: out, signingCertificate: chain, privateKey: p384.key })
    expect((await verifyEif(out)).signature?.valid).toBe(true)
  })

  it('a bad signature is ERR_EIF_SIGNATURE_INVALID: tampered signature bytes, or a changed ramdisk', async () => {
    const out = join(tmp.dir, 'signed2.eif')
    await buildEif({ blobs, rootfs: { kind: 'directory', path: rootfs }, cmd: ['/app/server'], output: out, signingCertificate: p384.cert, privateKey: p384.key })
    const file = readFileSync(out)
    const secs = rawSections(file)
    // last byte of the section is the last byte of r||s (encoded as a 1- or 2-byte uint)
    const sig = Buffer.from(file)
    const last = secs[5].offset + 12 + secs[5].size - 1
    sig[last] = sig[last] === 0x10 ? 0x11 : 0x10
    writeFileSync(join(tmp.dir, 'badsig.eif'), fixCrc(sig))
    await expect(verifyEif(join(tmp.dir, 'badsig.eif'))).rejects.toMatchObject({ code: 'ERR_EIF_SIGNATURE_INVALID' })
    const rd = Buffer.from(file)
    rd[secs[4].offset + 200] ^= 1
    writeFileSync(join(tmp.dir, 'badrd.eif'), fixCrc(rd))
    await expect(verifyEif(join(tmp.dir, 'badrd.eif'))).rejects.toMatchObject({ code: 'ERR_EIF_SIGNATURE_INVALID' })
    const r = await run(['describe', join(tmp.dir, 'badrd.eif')])
    expect(JSON.parse(r.out).SignatureCheck).toBe(false)
    expect(r.code).toBe(1)
    const junk = Buffer.from(file)
    junk[secs[5].offset + 12] = 0x82 // array of 2, not 1
    writeFileSync(join(tmp.dir, 'junk.eif'), fixCrc(junk))
    await expect(verifyEif(join(tmp.dir, 'junk.eif'))).rejects.toMatchObject({ code: 'ERR_EIF_SIGNATURE_MALFORMED' })
  })
})

describe('signature section fuzzing', () => {
  it('a certificate whose key is the EC point at infinity is an invalid signature, not a process abort', () => {
    // p384's certificate with its SPKI swapped for one holding the point at infinity (BIT STRING 00 00);
    // the signature no longer matches, which X509Certificate does not check. Node imports that key and
    // aborts the process when its details are read: this test's worker would die.
    const der = new X509Certificate(readFileSync(p384.cert)).raw
    const spkiAt = der.indexOf(Buffer.from('3076301006072a8648ce3d020106052b8104002203620004', 'hex'))
    expect(spkiAt).toBeGreaterThan(0)
    const infinity = Buffer.from('3016301006072a8648ce3d020106052b8104002203020000', 'hex')
    const len = (n: number): Buffer => (n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]))
    const seq = (body: Buffer): Buffer => Buffer.concat([Buffer.from([0x30]), len(body.length), body])
    const tbsAt = der[1] === 0x82 ? 4 : 3
    const tbsLen = der[tbsAt + 1] === 0x82 ? der.readUInt16BE(tbsAt + 2) : der[tbsAt + 2]
    const tbsHead = der[tbsAt + 1] === 0x82 ? 4 : 3
    const tbsBody = der.subarray(tbsAt + tbsHead, tbsAt + tbsHead + tbsLen)
    const rel = spkiAt - tbsAt - tbsHead
    const tbs = seq(Buffer.concat([tbsBody.subarray(0, rel), infinity, tbsBody.subarray(rel + 0x78)]))
    const cert = seq(Buffer.concat([tbs, der.subarray(tbsAt + tbsHead + tbsLen)]))
    const pem = Buffer.from(`-----BEGIN CERTIFICATE-----\n${cert.toString('base64')}\n-----END CERTIFICATE-----\n`)
    expect(new X509Certificate(pem).publicKey.asymmetricKeyType).toBe('ec')
    const prot = encodeCbor(new Map([[1, -35]]))
    const cose = encodeCbor([prot, new Map(), encodeCbor(new Map([['register_index', 0]])), new Uint8Array(96)])
    const pcr0 = new Uint8Array(48)
    expect(checkSignatureSection(encodeSignatureSection(pem, cose), pcr0).valid).toBe(false)
  })

  it('random mutations inside a real signature section: verified, or a typed error (property)', async () => {
    const file = readFileSync(join(tmp.dir, 'signed.eif'))
    const sig = rawSections(file)[5]
    let i = 0
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(sig.size - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), async (flips) => {
        const b = Buffer.from(file)
        for (const [at, v] of flips) b[sig.offset + 12 + at] = v
        const p = join(tmp.dir, `sigfuzz-${i++ % 4}.eif`)
        writeFileSync(p, fixCrc(b))
        try {
          await verifyEif(p)
        } catch (e) {
          expect(e).toBeInstanceOf(EifError)
          expect(EIF_ERROR_CODES).toContain((e as EifError).code)
        }
      }),
      { numRuns: 100 },
    )
  })
})

describe('eif policy', () => {
  it('holds under an IAM-delegated Allow: only this image decrypts, with or without PCR8 pinned (kms-local evaluator)', () => {
    const role = 'arn:aws:iam::123456789012:role/enclave-parent'
    const m = { pcr0: 'a0'.repeat(48), pcr1: 'a1'.repeat(48), pcr2: 'a2'.repeat(48), pcr8: 'a8'.repeat(48) }
    const pcrMap = (v: Record<number, string>) => new Map(Object.entries(v).map(([k, x]) => [Number(k), Buffer.from(x, 'hex')]))
    for (const pcrs of [[0], [0, 1, 2], [2, 8]]) {
      // the default key policy's root statement plus an IAM policy giving the role kms:Decrypt
      const policy = parsePolicy(JSON.stringify({ Version: '2012-10-17', Statement: [
        { Sid: 'EnableIAM', Effect: 'Allow', Principal: { AWS: role }, Action: 'kms:*', Resource: '*' },
        ...keyPolicyStatements(m, { pcrs, role }).Statement,
      ] }))
      const decide = (context: Map<string, string>) => evaluatePolicy(policy, { principalArn: role, account: '123456789012', action: 'kms:Decrypt', resource: '*', context })
      expect(decide(attestationContext('enclave', pcrMap({ 0: m.pcr0, 1: m.pcr1, 2: m.pcr2, 8: m.pcr8 }))), `${pcrs}`).toBe('Allow')
      expect(decide(new Map()), `${pcrs} without a Recipient`).toBe('ExplicitDeny')
      for (const i of pcrs) {
        const other = { 0: m.pcr0, 1: m.pcr1, 2: m.pcr2, 8: m.pcr8, [i]: 'ff'.repeat(48) }
        expect(decide(attestationContext('enclave', pcrMap(other))), `${pcrs}: another PCR${i}`).toBe('ExplicitDeny')
      }
    }
  })

  it('pins ImageSha384 and PCRn, with a Deny on Null', async () => {
    const role = 'arn:aws:iam::123456789012:role/enclave-parent'
    const r = await run(['policy', join(tmp.dir, 'signed.eif'), '--pcr', '0,1,2,8', '--role', role])
    expect(r.code).toBe(0)
    const p = JSON.parse(r.out)
    const m = JSON.parse((await run(['pcrs', join(tmp.dir, 'signed.eif')])).out).Measurements
    const [allow, deny] = p.Statement
    expect(allow.Effect).toBe('Allow')
    expect(allow.Principal).toEqual({ AWS: role })
    expect(allow.Condition.StringEqualsIgnoreCase).toEqual({
      'kms:RecipientAttestation:ImageSha384': m.PCR0,
      'kms:RecipientAttestation:PCR1': m.PCR1,
      'kms:RecipientAttestation:PCR2': m.PCR2,
      'kms:RecipientAttestation:PCR8': m.PCR8,
    })
    expect(allow.Action).toContain('kms:Decrypt')
    expect(deny.Effect).toBe('Deny')
    expect(deny.Action).toEqual(allow.Action)
    expect(deny.Condition).toEqual({ Null: { 'kms:RecipientAttestation:ImageSha384': 'true' } })
    // with another image's document the keys are present, so Null does not deny: one Deny per
    // pinned value does (an IAM-delegated Allow would otherwise let a different enclave decrypt)
    const others = p.Statement.slice(2)
    expect(others.map((s: { Sid: string }) => s.Sid)).toEqual(['DenyOtherImagesImageSha384', 'DenyOtherImagesPCR1', 'DenyOtherImagesPCR2', 'DenyOtherImagesPCR8'])
    for (const s of others) {
      expect(s).toMatchObject({ Effect: 'Deny', Principal: { AWS: role }, Action: allow.Action, Resource: '*' })
      const [[key, value]] = Object.entries(s.Condition.StringNotEqualsIgnoreCase as Record<string, string>)
      expect(allow.Condition.StringEqualsIgnoreCase[key]).toBe(value)
    }
    expect((await run(['policy', join(tmp.dir, 'one.eif'), '--pcr', '8'])).code).toBe(1) // unsigned
    expect((await run(['policy', join(tmp.dir, 'one.eif'), '--pcr', '3'])).code).toBe(2)
    expect((await run(['policy', join(tmp.dir, 'one.eif'), '--role', 'not-an-arn'])).code).toBe(1)
  })
})
