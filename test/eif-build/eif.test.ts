import { randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { lstatSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { EIF_ERROR_CODES, EifError } from '../../eif-build/errors.js'
import { describeEif, verifyEif } from '../../eif-build/reader.js'
import { bufferSource } from '../../eif-build/source.js'
import { writeEif, type SectionProducer } from '../../eif-build/writer.js'
import { fileCrc, fixCrc, pcr, rawSections, tempDir } from './helpers.js'

const tmp = tempDir('rt')
afterAll(() => tmp.cleanup())

const kernel = randomBytes(100_003)
const cmdline = 'console=ttyS0 reboot=k'
const metadata = Buffer.from('{"ImageName":"x","ImageVersion":"1","BuildMetadata":{},"DockerInfo":null,"CustomMetadata":null}')

/** A producer emitting `b` in uneven chunks, to exercise the streaming paths. */
function chunked(b: Buffer): SectionProducer {
  return async (out) => {
    for (let i = 0; i < b.length; i += 7777) await out(b.subarray(i, Math.min(b.length, i + 7777)))
  }
}

async function build(name: string, ramdisks: Buffer[]): Promise<{ path: string; file: Buffer; res: Awaited<ReturnType<typeof writeEif>> }> {
  const path = join(tmp.dir, name)
  const res = await writeEif(path, {
    kernel: bufferSource(kernel),
    cmdline,
    metadata,
    arch: 'x86_64',
    ramdisks: ramdisks.map((r, i) => (i % 2 === 0 ? bufferSource(r) : chunked(r))),
  })
  return { path, file: readFileSync(path), res }
}

describe('writer -> reader round trip', () => {
  it('lays sections out as EifBuilder does and the reader agrees on everything', async () => {
    const rd = [randomBytes(5000), randomBytes(70_001), randomBytes(3)]
    const { path, file, res } = await build('three.eif', rd)
    const secs = rawSections(file)
    expect(secs.map((s) => s.type)).toEqual([1, 2, 5, 3, 3, 3])
    expect(secs[0].offset).toBe(548)
    for (let i = 1; i < secs.length; i++) expect(secs[i].offset).toBe(secs[i - 1].offset + 12 + secs[i - 1].size)
    expect(file.length).toBe(secs[5].offset + 12 + secs[5].size)
    expect(secs[1].data.toString()).toBe(cmdline)
    expect(file.readUInt16BE(4)).toBe(4)
    expect(file.readUInt16BE(26)).toBe(6)
    // CRC: the whole file except bytes 544..547
    expect(file.readUInt32BE(544)).toBe(fileCrc(file))
    // PCRs from the concatenation formulas
    const cmd = Buffer.from(cmdline)
    const want = { pcr0: pcr(kernel, cmd, ...rd), pcr1: pcr(kernel, cmd, rd[0]), pcr2: pcr(rd[1], rd[2]) }
    expect(res.measurements).toEqual(want)
    const d = await verifyEif(path)
    expect(d.crcOk).toBe(true)
    expect(d.measurements).toEqual(want)
    expect(d.cmdline).toBe(cmdline)
    expect(d.metadata?.ImageName).toBe('x')
    expect(d.sections.map((s) => s.name)).toEqual(['kernel', 'cmdline', 'metadata', 'ramdisk', 'ramdisk', 'ramdisk'])
    // the PCR2 worker path gives the same values
    const par = await describeEif(path, { parallelThreshold: 0 })
    expect(par.measurements).toEqual(want)
  })

  it('the two-thread path splits the CRC between threads and still catches corruption anywhere', async () => {
    const rd = [randomBytes(3000), randomBytes(10_000), randomBytes(300_000)]
    const { path, file } = await build('split.eif', rd)
    const par = await describeEif(path, { parallelThreshold: 0 })
    expect(par.crcOk).toBe(true)
    expect(par.computedCrc).toBe(fileCrc(file))
    for (const at of [600, file.length - 250_000, file.length - 100_000, file.length - 1]) {
      const bad = Buffer.from(file)
      bad[at] ^= 0x01
      writeFileSync(join(tmp.dir, 'split-bad.eif'), bad)
      const d = await describeEif(join(tmp.dir, 'split-bad.eif'), { parallelThreshold: 0 })
      expect(d.crcOk, `flip at ${at}`).toBe(false)
      expect(d.computedCrc).toBe(fileCrc(bad))
    }
  })

  it('the PCR2 worker reads the file that was opened, even when its path is replaced meanwhile', async () => {
    const rd = [randomBytes(3000), randomBytes(200_000)]
    const a = await build('swap-a.eif', rd)
    const b = await build('swap-b.eif', [rd[0], randomBytes(200_000)]) // same layout, other PCR2
    let swapped = false
    const d = await describeEif(a.path, {
      parallelThreshold: 0,
      onProgress: () => {
        if (!swapped) renameSync(b.path, a.path) // before the worker thread is up
        swapped = true
      },
    })
    expect(swapped).toBe(true)
    expect(d.crcOk).toBe(true)
    expect(d.measurements).toEqual(a.res.measurements)
  })

  it('the writer hashes large application ramdisks on a worker thread with the same result', async () => {
    const rd = [randomBytes(1000), randomBytes(10 << 20), randomBytes((8 << 20) + 17)] // 18 MiB after the first: worker path
    const { res } = await build('bigpcr2.eif', rd)
    expect(res.measurements.pcr2).toBe(pcr(rd[1], rd[2]))
    expect(res.measurements.pcr0).toBe(pcr(kernel, Buffer.from(cmdline), ...rd))
  })

  it('PCR1 is snapshotted correctly when the PCR0 hash already runs on a worker', async () => {
    const rd = [randomBytes((17 << 20) + 5), randomBytes(1001)] // ramdisk[0] alone passes the 16 MiB threshold
    const { res } = await build('bigpcr1.eif', rd)
    const cmd = Buffer.from(cmdline)
    expect(res.measurements).toEqual({ pcr0: pcr(kernel, cmd, ...rd), pcr1: pcr(kernel, cmd, rd[0]), pcr2: pcr(rd[1]) })
  })

  it('one ramdisk: PCR2 is extend(empty)', async () => {
    const { path } = await build('one.eif', [randomBytes(999)])
    const d = await verifyEif(path)
    expect(d.measurements.pcr2).toBe(pcr())
  })

  it('aarch64 sets header flag bit 0', async () => {
    const path = join(tmp.dir, 'arm.eif')
    await writeEif(path, { kernel: bufferSource(kernel), cmdline, metadata, arch: 'aarch64', ramdisks: [bufferSource(Buffer.from('x'))] })
    expect(readFileSync(path).readUInt16BE(6)).toBe(1)
    expect((await verifyEif(path)).arch).toBe('aarch64')
  })

  it('writes only regular files: a device or a symlink as output is refused and left alone', async () => {
    const sections = { kernel: bufferSource(kernel), cmdline, metadata, arch: 'x86_64' as const, ramdisks: [bufferSource(Buffer.from('x'))] }
    // a failed build unlinks its output: that must never reach /dev/null
    await expect(writeEif('/dev/null', sections)).rejects.toMatchObject({ code: 'ERR_EIF_INPUT', message: '/dev/null: not a regular file' })
    expect(lstatSync('/dev/null').isCharacterDevice()).toBe(true)
    const target = join(tmp.dir, 'target.bin')
    writeFileSync(target, 'keep')
    const link = join(tmp.dir, 'link.eif')
    symlinkSync(target, link)
    await expect(writeEif(link, sections)).rejects.toMatchObject({ code: 'ERR_EIF_INPUT', message: `${link}: is a symbolic link (not followed)` })
    expect(readFileSync(target, 'utf8')).toBe('keep')
    expect(lstatSync(link).isSymbolicLink()).toBe(true)
  })

  it('the reader opens regular files only: a FIFO is refused at once (opening it used to block forever)', async () => {
    const fifo = join(tmp.dir, 'pipe.eif')
    execFileSync('mkfifo', [fifo])
    await expect(describeEif(fifo)).rejects.toMatchObject({ code: 'ERR_EIF_INPUT', message: `EIF ${fifo}: not a regular file` })
    mkdirSync(join(tmp.dir, 'dir.eif'))
    await expect(describeEif(join(tmp.dir, 'dir.eif'))).rejects.toMatchObject({ code: 'ERR_EIF_INPUT' })
    await expect(describeEif('/dev/zero')).rejects.toMatchObject({ code: 'ERR_EIF_INPUT' })
  }, 5000)

  it('never writes a section the reader would refuse as too large', async () => {
    const base = { kernel: bufferSource(kernel), cmdline, metadata, arch: 'x86_64' as const, ramdisks: [bufferSource(Buffer.from('x'))] }
    const out = join(tmp.dir, 'too-large.eif')
    await expect(writeEif(out, { ...base, metadata: Buffer.alloc((4 << 20) + 1, 0x20) })).rejects.toMatchObject({ code: 'ERR_EIF_TOO_LARGE' })
    await expect(writeEif(out, { ...base, cmdline: 'x'.repeat((64 << 10) + 1) })).rejects.toMatchObject({ code: 'ERR_EIF_TOO_LARGE' })
    // at the caps exactly, the reader takes the file
    await writeEif(out, { ...base, metadata: Buffer.from(`{"a":"${'x'.repeat((4 << 20) - 8)}"}`), cmdline: 'x'.repeat(64 << 10) })
    expect((await verifyEif(out)).cmdline.length).toBe(64 << 10)
  })

  it('truncates an existing, longer output file', async () => {
    const path = join(tmp.dir, 'long.eif')
    writeFileSync(path, randomBytes(1 << 20))
    const res = await writeEif(path, { kernel: bufferSource(kernel), cmdline, metadata, arch: 'x86_64', ramdisks: [bufferSource(Buffer.from('x'))] })
    expect(readFileSync(path).length).toBe(res.size)
    expect((await verifyEif(path)).measurements).toEqual(res.measurements)
  })
})

describe('hostile EIFs: each a typed error', async () => {
  const { file } = await build('good.eif', [randomBytes(4000), randomBytes(6000)])
  const secs = rawSections(file)
  let n = 0
  async function codeOf(bytes: Buffer): Promise<string> {
    const p = join(tmp.dir, `bad-${n++}.eif`)
    writeFileSync(p, bytes)
    try {
      await verifyEif(p)
      return 'ok'
    } catch (e) {
      expect(e).toBeInstanceOf(EifError)
      return (e as EifError).code
    }
  }
  const mutate = (f: (b: Buffer) => void, crc = true): Buffer => {
    const b = Buffer.from(file)
    f(b)
    return crc ? fixCrc(b) : b
  }

  it('the unmodified file verifies', async () => {
    expect(await codeOf(Buffer.from(file))).toBe('ok')
  })
  it('truncated anywhere', async () => {
    for (const cut of [0, 3, 100, 547, 548, 560, secs[3].offset + 5, file.length - 1]) {
      expect(await codeOf(file.subarray(0, cut))).toMatch(/^ERR_EIF_(TRUNCATED|MAGIC|LAYOUT)$/)
    }
    expect(await codeOf(file.subarray(0, file.length - 1))).toBe('ERR_EIF_TRUNCATED')
  })
  it('wrong magic', async () => {
    expect(await codeOf(mutate((b) => b.write('.elf', 0, 'latin1')))).toBe('ERR_EIF_MAGIC')
  })
  it('wrong version', async () => {
    for (const v of [0, 1, 5, 0xffff]) expect(await codeOf(mutate((b) => b.writeUInt16BE(v, 4)))).toBe('ERR_EIF_VERSION')
  })
  it('section count 0 or above 32', async () => {
    expect(await codeOf(mutate((b) => b.writeUInt16BE(0, 26)))).toBe('ERR_EIF_HEADER')
    expect(await codeOf(mutate((b) => b.writeUInt16BE(33, 26)))).toBe('ERR_EIF_HEADER')
  })
  it('overlapping, gapped and out-of-range section offsets', async () => {
    expect(await codeOf(mutate((b) => b.writeBigUInt64BE(BigInt(secs[2].offset - 4), 28 + 16)))).toBe('ERR_EIF_LAYOUT')
    expect(await codeOf(mutate((b) => b.writeBigUInt64BE(100n, 28)))).toBe('ERR_EIF_LAYOUT')
    expect(await codeOf(mutate((b) => b.writeBigUInt64BE(BigInt(secs[2].offset + 4), 28 + 16)))).toBe('ERR_EIF_LAYOUT')
    expect(await codeOf(mutate((b) => b.writeBigUInt64BE(0xffffffffffffff00n, 28 + 24)))).toBe('ERR_EIF_LAYOUT')
    expect(await codeOf(mutate((b) => b.writeBigUInt64BE(0xffffffffffffff00n, 28 + 256 + 8 * 4)))).toBe('ERR_EIF_TRUNCATED')
  })
  it('section sizes that disagree with their headers', async () => {
    // header array says one byte less for the cmdline; the section header still says the truth
    expect(await codeOf(mutate((b) => b.writeBigUInt64BE(BigInt(secs[1].size - 1), 28 + 256 + 8)))).toMatch(/^ERR_EIF_(SECTION|LAYOUT)$/)
    expect(await codeOf(mutate((b) => b.writeBigUInt64BE(BigInt(secs[1].size + 1), secs[1].offset + 4)))).toBe('ERR_EIF_SECTION')
  })
  it('unknown section type, missing metadata, duplicate kernel', async () => {
    expect(await codeOf(mutate((b) => b.writeUInt16BE(6, secs[1].offset)))).toBe('ERR_EIF_SECTION')
    expect(await codeOf(mutate((b) => b.writeUInt16BE(3, secs[2].offset)))).toBe('ERR_EIF_LAYOUT')
    expect(await codeOf(mutate((b) => b.writeUInt16BE(1, secs[1].offset)))).toBe('ERR_EIF_LAYOUT')
  })
  it('bytes after the last section', async () => {
    expect(await codeOf(fixCrc(Buffer.concat([file, Buffer.alloc(3)])))).toBe('ERR_EIF_LAYOUT')
  })
  it('CRC mismatch: in the header, in the data', async () => {
    expect(await codeOf(mutate((b) => (b[544] ^= 1), false))).toBe('ERR_EIF_CRC_MISMATCH')
    expect(await codeOf(mutate((b) => (b[secs[4].offset + 20] ^= 0x80), false))).toBe('ERR_EIF_CRC_MISMATCH')
    expect(await codeOf(mutate((b) => (b[540] ^= 1), false))).toBe('ERR_EIF_CRC_MISMATCH') // `unused` is covered
  })
  it('metadata that is not a JSON object', async () => {
    expect(await codeOf(mutate((b) => b.write('[', secs[2].offset + 12, 'latin1')))).toBe('ERR_EIF_METADATA')
  })
  it('random mutations: a result or a typed error, never anything else (property)', async () => {
    const small = (await build('small.eif', [randomBytes(40), randomBytes(30)])).file
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(small.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.option(fc.nat(small.length), { nil: undefined }),
        fc.boolean(),
        async (flips, cut, crc) => {
          let b: Buffer = Buffer.from(small)
          for (const [i, v] of flips) b[i] = v
          if (cut !== undefined) b = b.subarray(0, cut)
          if (crc && b.length >= 548) b = fixCrc(Buffer.from(b))
          const code = await codeOf(b)
          expect(code === 'ok' || (EIF_ERROR_CODES as readonly string[]).includes(code)).toBe(true)
        },
      ),
      { numRuns: 150 },
    )
  })
  it('random header and section-table mutations (property)', async () => {
    const small = (await build('small2.eif', [randomBytes(40), randomBytes(30)])).file
    const secs = rawSections(small)
    const hot = [...Array(548).keys(), ...secs.flatMap((s) => [...Array(12).keys()].map((i) => s.offset + i))]
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom(...hot), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), async (flips) => {
        const b = Buffer.from(small)
        for (const [i, v] of flips) b[i] = v
        const code = await codeOf(fixCrc(b))
        expect(code === 'ok' || (EIF_ERROR_CODES as readonly string[]).includes(code)).toBe(true)
      }),
      { numRuns: 200 },
    )
  })
})
