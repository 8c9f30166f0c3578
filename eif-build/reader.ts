/**
 * Bounds-checked EIF reader. It validates the header and every section header against the file
 * size before reading any data (offsets must tile the file exactly: no gaps, overlaps or trailing
 * bytes), then streams the file once: CRC-32 over everything, PCR0/PCR1 on this thread and PCR2 on
 * a worker thread (the two hashes each cover most of the file, so two cores halve the wall time).
 * It only ever reads inside the file and holds small sections (cmdline, metadata, signature) in
 * memory, bounded.
 * @module
 */
import type { FileHandle } from 'node:fs/promises'
import { Worker } from 'node:worker_threads'
import { crc32, crc32Combine } from './crc32.js'
import { EifError, fail } from './errors.js'
import {
  CRC_OFFSET, EIF_HEADER_SIZE, FLAG_ARM64, SECTION_HEADER_SIZE, SectionType, decodeHeader, decodeSectionHeader, sectionName,
  type EifHeader,
} from './format.js'
import { Measurer, PCR_OF_EMPTY, extendDigest, type Measurements } from './measure.js'
import { checkSignatureSection, certificateSummary, MAX_SIGNATURE_SECTION } from './signature.js'
import { openRegularFile } from './source.js'

/** Caps on the sections read into memory. */
export const MAX_CMDLINE = 64 * 1024
export const MAX_METADATA = 4 * 1024 * 1024

export interface EifSection {
  type: number
  name: string
  /** Offset of the section header. */
  offset: number
  /** Data size. */
  size: number
}

export interface EifDescription {
  version: number
  arch: 'x86_64' | 'aarch64'
  sections: EifSection[]
  measurements: Measurements
  storedCrc: number
  computedCrc: number
  crcOk: boolean
  cmdline: string
  /** Parsed metadata JSON (null when absent, as in v2/v3 files). */
  metadata: Record<string, unknown> | null
  signature: null | {
    valid: boolean
    certificatePem: string
    certificate: ReturnType<typeof certificateSummary>
  }
}

export interface ReadOptions {
  /** Hash PCR2 on a worker thread when the ramdisks after the first exceed this many bytes (default 8 MiB). */
  parallelThreshold?: number
  /** Called with bytes processed so far and the total. */
  onProgress?: (done: number, total: number) => void
}

/** Validates header + section headers against the file size. Exported for tests. */
export async function readLayout(fh: FileHandle, fileSize: number): Promise<{ header: EifHeader; sections: EifSection[] }> {
  if (fileSize < EIF_HEADER_SIZE) {
    const b = Buffer.alloc(Math.min(fileSize, 4))
    await fh.read(b, 0, b.length, 0)
    if (b.length === 4 && b.toString('latin1') !== '.eif') fail('ERR_EIF_MAGIC', 'not an EIF: magic is not ".eif"')
    fail('ERR_EIF_TRUNCATED', `file has ${fileSize} bytes, the header alone needs ${EIF_HEADER_SIZE}`)
  }
  const hb = Buffer.alloc(EIF_HEADER_SIZE)
  await fh.read(hb, 0, EIF_HEADER_SIZE, 0)
  const header = decodeHeader(hb)
  const size = BigInt(fileSize)
  const sections: EifSection[] = []
  let expected = BigInt(EIF_HEADER_SIZE)
  const counts: Record<number, number> = {}
  for (let i = 0; i < header.numSections; i++) {
    const off = header.sectionOffsets[i]
    const len = header.sectionSizes[i]
    if (off >= size) fail('ERR_EIF_LAYOUT', `section ${i} offset ${off} is outside the file (${fileSize} bytes)`)
    if (off < expected) fail('ERR_EIF_LAYOUT', `section ${i} at offset ${off} overlaps the ${i === 0 ? 'header' : `previous section (which ends at ${expected})`}`)
    if (off > expected) fail('ERR_EIF_LAYOUT', `section ${i} at offset ${off} leaves a gap after offset ${expected}`)
    const end = off + BigInt(SECTION_HEADER_SIZE) + len
    if (end > size) fail('ERR_EIF_TRUNCATED', `section ${i} ends at ${end}, past the end of the file (${fileSize} bytes)`)
    const sb = Buffer.alloc(SECTION_HEADER_SIZE)
    await fh.read(sb, 0, SECTION_HEADER_SIZE, Number(off))
    const sh = decodeSectionHeader(sb, `section ${i}`)
    if (sh.size !== len) fail('ERR_EIF_SECTION', `section ${i} (${sectionName(sh.type)}) header says ${sh.size} bytes, EIF header says ${len}`)
    counts[sh.type] = (counts[sh.type] ?? 0) + 1
    if (sh.type === SectionType.Ramdisk && !counts[SectionType.Kernel]) fail('ERR_EIF_LAYOUT', 'a ramdisk comes before the kernel')
    if (sh.type === SectionType.Signature && header.version < 3) fail('ERR_EIF_LAYOUT', `signature section in a version ${header.version} file`)
    const cap = sh.type === SectionType.Cmdline ? MAX_CMDLINE : sh.type === SectionType.Metadata ? MAX_METADATA : sh.type === SectionType.Signature ? MAX_SIGNATURE_SECTION : null
    if (cap !== null && len > BigInt(cap)) fail('ERR_EIF_TOO_LARGE', `${sectionName(sh.type)} section of ${len} bytes exceeds ${cap}`)
    sections.push({ type: sh.type, name: sectionName(sh.type), offset: Number(off), size: Number(len) })
    expected = end
  }
  if (expected !== size) fail('ERR_EIF_LAYOUT', `${size - expected} bytes after the last section`)
  const one = (t: number, min: number, max: number): void => {
    const n = counts[t] ?? 0
    if (n < min || n > max) fail('ERR_EIF_LAYOUT', `${n} ${sectionName(t)} sections (expected ${min === max ? min : `${min}..${max}`})`)
  }
  one(SectionType.Kernel, 1, 1)
  one(SectionType.Cmdline, 1, 1)
  one(SectionType.Ramdisk, 1, 32)
  one(SectionType.Signature, 0, 1)
  if (header.version >= 4) one(SectionType.Metadata, 1, 1)
  else one(SectionType.Metadata, 0, 1)
  return { header, sections }
}

const WORKER_SRC = `
const { parentPort, workerData } = require('node:worker_threads')
const fs = require('node:fs')
const crypto = require('node:crypto')
const { crc32 } = require('node:zlib')
const h = crypto.createHash('sha384')
const { crcFrom, crcEnd, fd } = workerData
let crc = 0
try {
  const buf = Buffer.allocUnsafe(4 << 20)
  for (const [start, len] of workerData.ranges) {
    let done = 0
    while (done < len) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, len - done), start + done)
      if (n <= 0) throw new Error('file shrank while reading')
      const chunk = buf.subarray(0, n)
      h.update(chunk)
      const a = Math.max(start + done, crcFrom)
      const b = Math.min(start + done + n, crcEnd)
      if (a < b) crc = crc32(chunk.subarray(a - start - done, b - start - done), crc)
      done += n
    }
  }
  parentPort.postMessage({ digest: h.digest('hex'), crc: crc >>> 0 })
} catch (e) {
  parentPort.postMessage({ error: String(e && e.message) })
}
`

/**
 * SHA-384 of byte ranges of a file on a worker thread, plus the CRC-32 of the file region
 * [crcFrom, crcEnd) (which must lie inside the ranges): the worker takes part of the CRC work so
 * both threads finish together. It reads through the caller's descriptor (descriptors are
 * process-wide), so both threads read the one file that was opened and checked, whatever happens
 * to its path; the caller closes it only after `stop()`.
 */
function hashRangesOnWorker(fd: number, ranges: Array<[number, number]>, crcFrom: number, crcEnd: number): { result: Promise<{ digest: Buffer; crc: number }>; stop: () => Promise<number> } {
  const w = new Worker(WORKER_SRC, { eval: true, workerData: { fd, ranges, crcFrom, crcEnd } })
  const result = new Promise<{ digest: Buffer; crc: number }>((resolve, reject) => {
    w.once('message', (m: { digest?: string; crc?: number; error?: string }) => {
      if (m.digest !== undefined && m.crc !== undefined) resolve({ digest: Buffer.from(m.digest, 'hex'), crc: m.crc })
      else reject(new EifError('ERR_EIF_TRUNCATED', `reading PCR2 data: ${m.error ?? 'worker failed'}`))
      void w.terminate()
    })
    w.once('error', (e) => reject(new EifError('ERR_EIF_TRUNCATED', `reading PCR2 data: ${e.message}`)))
  })
  result.catch(() => {}) // handled by whoever awaits it; never an unhandled rejection
  return { result, stop: () => w.terminate() }
}

/** SHA-384 costs about this many times CRC-32 per byte (zlib crc32 vs OpenSSL SHA-384, x86-64). */
const SHA_OVER_CRC = 7

/**
 * Reads and checks an EIF: layout, CRC, PCRs, metadata, signature. Structural defects throw
 * `EifError`s; a CRC or signature mismatch is reported in the result (`crcOk`,
 * `signature.valid`), as describe-eif does. Use {@link verifyEif} to have those throw too.
 */
export async function describeEif(path: string, opts: ReadOptions = {}): Promise<EifDescription> {
  const { fh, size: fileSize } = await openRegularFile(path, 'EIF')
  let worker: ReturnType<typeof hashRangesOnWorker> | null = null
  try {
    const { header, sections } = await readLayout(fh, fileSize)
    const later = sections.filter((s) => s.type === SectionType.Ramdisk).slice(1)
    const laterBytes = later.reduce((a, s) => a + s.size, 0)
    const parallel = laterBytes > (opts.parallelThreshold ?? 8 << 20)
    // Give the worker the CRC of the tail of the last ramdisk, sized so that both threads do
    // about the same work: main = SHA(all) + CRC(rest), worker = SHA(later ramdisks) + CRC(tail).
    let crcFrom = fileSize
    let crcEnd = fileSize
    if (parallel) {
      const last = later[later.length - 1]
      const lastStart = last.offset + SECTION_HEADER_SIZE
      const share = Math.floor((SHA_OVER_CRC * (fileSize - laterBytes) + fileSize) / 2)
      crcEnd = lastStart + last.size
      crcFrom = Math.max(lastStart, crcEnd - Math.min(last.size, share))
    }
    worker = parallel ? hashRangesOnWorker(fh.fd, later.map((s) => [s.offset + SECTION_HEADER_SIZE, s.size]), crcFrom, crcEnd) : null

    const measurer = new Measurer({ pcr2: !parallel })
    const hb = Buffer.alloc(EIF_HEADER_SIZE)
    await fh.read(hb, 0, EIF_HEADER_SIZE, 0)
    let crc = crc32(hb.subarray(0, CRC_OFFSET))
    let crcTail = 0
    /** CRC of a chunk at file offset `at`, leaving [crcFrom, crcEnd) to the worker. */
    const crcFeed = (chunk: Buffer, at: number): void => {
      const end = at + chunk.length
      if (at < crcFrom) crc = crc32(chunk.subarray(0, Math.min(chunk.length, crcFrom - at)), crc)
      if (end > crcEnd) crcTail = crc32(chunk.subarray(Math.max(0, crcEnd - at)), crcTail)
    }
    const small = new Map<number, Buffer>()

    // Double-buffered sequential pass over [548, EOF): CRC everything, measure section data.
    const bufs = [Buffer.allocUnsafe(4 << 20), Buffer.allocUnsafe(4 << 20)]
    let which = 0
    for (const s of sections) {
      const hdr = Buffer.alloc(SECTION_HEADER_SIZE)
      await fh.read(hdr, 0, SECTION_HEADER_SIZE, s.offset)
      crcFeed(hdr, s.offset)
      measurer.begin(s.type)
      const keep = s.type === SectionType.Cmdline || s.type === SectionType.Metadata || s.type === SectionType.Signature
      const kept = keep ? Buffer.alloc(s.size) : null
      const dataStart = s.offset + SECTION_HEADER_SIZE
      let done = 0
      const readAt = (b: Buffer, at: number): Promise<{ bytesRead: number; buffer: Buffer }> =>
        fh.read(b, 0, Math.min(b.length, s.size - at), dataStart + at)
      let pending = s.size > 0 ? readAt(bufs[which], 0) : null
      while (pending !== null) {
        const { bytesRead, buffer } = await pending
        if (bytesRead <= 0) fail('ERR_EIF_TRUNCATED', 'file shrank while reading')
        const chunk = buffer.subarray(0, bytesRead)
        done += bytesRead
        which ^= 1
        pending = done < s.size ? readAt(bufs[which], done) : null
        crcFeed(chunk, dataStart + done - bytesRead)
        measurer.update(chunk)
        kept?.set(chunk, done - bytesRead)
        opts.onProgress?.(dataStart + done, fileSize)
      }
      if (kept) small.set(s.type, kept)
    }
    const m = measurer.finish()
    if (parallel) {
      const w = await (worker as NonNullable<typeof worker>).result
      m.pcr2 = extendDigest(w.digest).toString('hex')
      crc = crc32Combine(crc32Combine(crc, w.crc, crcEnd - crcFrom), crcTail, fileSize - crcEnd)
    } else if (later.length === 0) {
      m.pcr2 = PCR_OF_EMPTY
    }

    const cmdline = decodeText(small.get(SectionType.Cmdline) ?? Buffer.alloc(0), 'cmdline', 'ERR_EIF_SECTION')
    let metadata: Record<string, unknown> | null = null
    const mb = small.get(SectionType.Metadata)
    if (mb !== undefined) {
      let v: unknown
      try {
        v = JSON.parse(decodeText(mb, 'metadata', 'ERR_EIF_METADATA'))
      } catch (e) {
        if (e instanceof EifError) throw e
        fail('ERR_EIF_METADATA', 'metadata section is not JSON')
      }
      if (v === null || typeof v !== 'object' || Array.isArray(v)) fail('ERR_EIF_METADATA', 'metadata section is not a JSON object')
      metadata = v as Record<string, unknown>
    }
    let signature: EifDescription['signature'] = null
    const sb = small.get(SectionType.Signature)
    if (sb !== undefined) {
      const info = checkSignatureSection(sb, Buffer.from(m.pcr0, 'hex'))
      m.pcr8 = info.pcr8
      signature = { valid: info.valid, certificatePem: info.certificatePem.toString('utf8'), certificate: certificateSummary(info.certificate) }
    }
    return {
      version: header.version,
      arch: (header.flags & FLAG_ARM64) !== 0 ? 'aarch64' : 'x86_64',
      sections,
      measurements: m,
      storedCrc: header.crc32,
      computedCrc: crc >>> 0,
      crcOk: (crc >>> 0) === header.crc32,
      cmdline,
      metadata,
      signature,
    }
  } finally {
    // after success the worker has already ended; after a failure it must not read on. Stopped
    // before the close: it reads through this descriptor, whose number could be reused.
    await worker?.stop()
    await fh.close()
  }
}

// ignoreBOM: report the bytes as they are (a leading U+FEFF is part of a cmdline, and not JSON)
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
function decodeText(b: Buffer, what: string, code: 'ERR_EIF_SECTION' | 'ERR_EIF_METADATA'): string {
  try {
    return strictUtf8.decode(b)
  } catch {
    throw new EifError(code, `${what} is not valid UTF-8`)
  }
}

/** {@link describeEif}, then throws `ERR_EIF_CRC_MISMATCH` / `ERR_EIF_SIGNATURE_INVALID` on failed checks. */
export async function verifyEif(path: string, opts: ReadOptions = {}): Promise<EifDescription> {
  const d = await describeEif(path, opts)
  assertVerified(d)
  return d
}

/** Throws for a description whose CRC or signature check failed. */
export function assertVerified(d: EifDescription): void {
  if (!d.crcOk) {
    throw new EifError('ERR_EIF_CRC_MISMATCH', `CRC-32 mismatch: header says ${d.storedCrc.toString(16).padStart(8, '0')}, file has ${d.computedCrc.toString(16).padStart(8, '0')}`)
  }
  if (d.signature !== null && !d.signature.valid) {
    throw new EifError('ERR_EIF_SIGNATURE_INVALID', 'the signature does not verify with the signing certificate, or does not sign this PCR0')
  }
}

/**
 * PCR0, PCR1, PCR2 (and PCR8 when signed) of a verified EIF, as raw 48-byte values: what the NSM
 * reports for an enclave started from this file. Throws on any structural, CRC or signature defect.
 */
export async function readEifMeasurements(path: string): Promise<{ pcr0: Buffer; pcr1: Buffer; pcr2: Buffer; pcr8?: Buffer }> {
  const d = await verifyEif(path)
  const m = d.measurements
  const out: { pcr0: Buffer; pcr1: Buffer; pcr2: Buffer; pcr8?: Buffer } = {
    pcr0: Buffer.from(m.pcr0, 'hex'),
    pcr1: Buffer.from(m.pcr1, 'hex'),
    pcr2: Buffer.from(m.pcr2, 'hex'),
  }
  if (m.pcr8 !== undefined) out.pcr8 = Buffer.from(m.pcr8, 'hex')
  return out
}
