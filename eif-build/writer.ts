/**
 * Streaming EIF writer. Sections go to the file in EifBuilder's order (kernel, cmdline, metadata,
 * ramdisks, optional signature) straight after a reserved header; each section's data is measured
 * and CRC'd as it is written, its 12-byte header is written once its size is known, and the EIF
 * header goes in last. The CRC of the pieces is joined with crc32Combine, so nothing is read back
 * and memory stays at one staging buffer whatever the ramdisk size.
 * @module
 */
import { closeSync, constants, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs'
import { unlink } from 'node:fs/promises'
import { crc32, crc32Combine } from './crc32.js'
import { EifError } from './errors.js'
import {
  CRC_OFFSET, DEFAULT_CPUS, DEFAULT_MEM, EIF_HEADER_SIZE, EIF_VERSION, FLAG_ARM64, MAX_SECTIONS, SECTION_HEADER_SIZE, SectionType,
  encodeHeader, encodeSectionHeader,
} from './format.js'
import { OffThreadSha384 } from './hash-worker.js'
import { extendDigest, type Measurements } from './measure.js'
import { MAX_CMDLINE, MAX_METADATA } from './reader.js'
import { signPcr0, pcr8Of, type SigningMaterial } from './signature.js'
import { pumpSource, type DataSource } from './source.js'

/** Writes one section's data through `out`; returns when done. */
export type SectionProducer = (out: (chunk: Buffer) => Promise<void>) => Promise<unknown>

export interface EifSections {
  kernel: DataSource
  /** Exactly the bytes to store: no NUL, no trailing newline (callers trim as nitro-cli does). */
  cmdline: string
  metadata: Uint8Array
  /** In order: [0] bootstrap (PCR1), [1..] customer (PCR2). Each a file or a generator. */
  ramdisks: Array<DataSource | SectionProducer>
  arch: 'x86_64' | 'aarch64'
  signing?: SigningMaterial
  /** Called with the total bytes written so far. */
  onProgress?: (bytes: number) => void
}

export interface EifWriteResult {
  measurements: Measurements
  size: number
  crc32: number
}

function writeAllSync(fd: number, b: Uint8Array, at: number, path: string): void {
  try {
    for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off, at + off)
  } catch (e) {
    throw new EifError('ERR_EIF_INPUT', `${path}: cannot write: ${(e as NodeJS.ErrnoException).code ?? 'error'}`)
  }
}

/** Builds an EIF at `path` (a regular file, created or truncated, mode 0644; removed on failure). */
export async function writeEif(path: string, s: EifSections): Promise<EifWriteResult> {
  if (s.cmdline.includes('\0')) throw new EifError('ERR_EIF_INPUT', 'cmdline contains a NUL byte')
  if (s.ramdisks.length === 0) throw new EifError('ERR_EIF_INPUT', 'an EIF needs at least one ramdisk')
  if (3 + s.ramdisks.length + (s.signing ? 1 : 0) > MAX_SECTIONS) throw new EifError('ERR_EIF_INPUT', 'too many ramdisks')
  // never write what the reader refuses
  if (Buffer.byteLength(s.cmdline) > MAX_CMDLINE) throw new EifError('ERR_EIF_TOO_LARGE', `cmdline of ${Buffer.byteLength(s.cmdline)} bytes exceeds ${MAX_CMDLINE}`)
  if (s.metadata.length > MAX_METADATA) throw new EifError('ERR_EIF_TOO_LARGE', `metadata of ${s.metadata.length} bytes exceeds ${MAX_METADATA}`)
  let fd: number
  try {
    // Not a symlink, and (checked below) a regular file: a failed build unlinks what it wrote,
    // which must never be a device such as /dev/full or a file a link points at.
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, 0o644)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new EifError('ERR_EIF_INPUT', code === 'ELOOP' ? `${path}: is a symbolic link (not followed)` : `${path}: cannot create: ${code ?? 'error'}`)
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd)
    throw new EifError('ERR_EIF_INPUT', `${path}: not a regular file`)
  }
  ftruncateSync(fd, 0)
  let ok = false
  // The hashes run on a worker thread, as two lanes fed by one copy of the data: lane 0 (PCR0)
  // over kernel, cmdline and every ramdisk, snapshotted for PCR1 where ramdisk[1] starts, and
  // lane 1 (PCR2) over ramdisk[1..]. This thread only walks, formats, checksums and writes. The
  // worker starts at once: an EIF's kernel alone is megabytes, and its start-up then overlaps ours.
  const hashes = new OffThreadSha384({ lanes: 2 })
  hashes.prestart()
  try {
    let pcr1: Promise<Buffer> | null = null
    let ramdiskIndex = -1
    const offsets: bigint[] = []
    const sizes: bigint[] = []
    let pos = EIF_HEADER_SIZE
    let bodyCrc = 0
    let bodyLen = 0
    const buf = Buffer.allocUnsafe(1 << 20)

    const section = async (type: SectionType, produce: SectionProducer, measured: boolean): Promise<void> => {
      const start = pos
      let len = 0
      let crc = 0
      const forPcr2 = type === SectionType.Ramdisk && ++ramdiskIndex >= 1
      if (type === SectionType.Ramdisk && ramdiskIndex === 1) {
        pcr1 = hashes.snapshot(0)
        pcr1.catch(() => {})
      }
      // Synchronous positional writes, like the reads: into the page cache they cost less than a
      // copy of each chunk plus a threadpool round trip, and the producer may reuse its buffer
      // as soon as `out` returns.
      await produce(async (chunk) => {
        if (measured) await hashes.update(chunk, forPcr2 ? 0b11 : 0b01)
        crc = crc32(chunk, crc)
        writeAllSync(fd, chunk, start + SECTION_HEADER_SIZE + len, path)
        len += chunk.length
        s.onProgress?.(start + SECTION_HEADER_SIZE + len)
      })
      const hdr = encodeSectionHeader(type, len)
      writeAllSync(fd, hdr, start, path)
      bodyCrc = crc32Combine(bodyCrc, crc32(hdr), hdr.length)
      bodyCrc = crc32Combine(bodyCrc, crc, len)
      bodyLen += hdr.length + len
      offsets.push(BigInt(start))
      sizes.push(BigInt(len))
      pos = start + SECTION_HEADER_SIZE + len
    }
    const fromSource = (src: DataSource): SectionProducer => (out) => pumpSource(src, buf, out)
    const fromBytes = (b: Uint8Array): SectionProducer => async (out) => {
      if (b.length > 0) await out(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
    }

    await section(SectionType.Kernel, fromSource(s.kernel), true)
    await section(SectionType.Cmdline, fromBytes(Buffer.from(s.cmdline, 'utf8')), true)
    await section(SectionType.Metadata, fromBytes(s.metadata), false)
    for (const r of s.ramdisks) await section(SectionType.Ramdisk, typeof r === 'function' ? r : fromSource(r), true)
    const [[d0, d2], d1] = await Promise.all([hashes.digests(), pcr1 ?? Promise.resolve(null)])
    const measurements: Measurements = {
      pcr0: extendDigest(d0).toString('hex'),
      pcr1: extendDigest(d1 ?? d0).toString('hex'),
      pcr2: extendDigest(d2).toString('hex'),
    }
    if (s.signing) {
      const sig = signPcr0(s.signing, Buffer.from(measurements.pcr0, 'hex'))
      await section(SectionType.Signature, fromBytes(sig), false)
      measurements.pcr8 = pcr8Of(s.signing.certificate)
    }
    const header = encodeHeader({
      version: EIF_VERSION,
      flags: s.arch === 'aarch64' ? FLAG_ARM64 : 0,
      defaultMem: DEFAULT_MEM,
      defaultCpus: DEFAULT_CPUS,
      numSections: offsets.length,
      sectionOffsets: offsets,
      sectionSizes: sizes,
      unused: 0,
      crc32: 0,
    })
    const crc = crc32Combine(crc32(header.subarray(0, CRC_OFFSET)), bodyCrc, bodyLen)
    header.writeUInt32BE(crc, CRC_OFFSET)
    writeAllSync(fd, header, 0, path)
    ftruncateSync(fd, pos)
    ok = true
    return { measurements, size: pos, crc32: crc }
  } finally {
    closeSync(fd)
    if (!ok) {
      // a running worker would keep the process alive; a half-written image must not stay behind
      await hashes.abort()
      await unlink(path).catch(() => {})
    }
  }
}
