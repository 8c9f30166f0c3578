// Shared helpers for the eif-build tests: temp dirs, stand-in blobs, a tiny tar writer for
// hostile archives, and an independent PCR/CRC computation from the spec's formulas.
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `nr-eif-${tag}-`))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Stand-in kernel/cmdline/init/nsm.ko (random bytes) in `<dir>/blobs`. */
export function standInBlobs(dir: string, kernelSize = 200_000): string {
  const blobs = join(dir, 'blobs')
  mkdirSync(blobs, { recursive: true })
  writeFileSync(join(blobs, 'bzImage'), randomBytes(kernelSize))
  writeFileSync(join(blobs, 'cmdline'), 'reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on\n')
  writeFileSync(join(blobs, 'init'), randomBytes(7000))
  writeFileSync(join(blobs, 'nsm.ko'), randomBytes(3001))
  return blobs
}

/** extend(x) = SHA384(0^48 || SHA384(x)), straight from the formula. */
export function pcr(...parts: Uint8Array[]): string {
  const inner = createHash('sha384')
  for (const p of parts) inner.update(p)
  return createHash('sha384').update(Buffer.alloc(48)).update(inner.digest()).digest('hex')
}

/** CRC of the file without bytes 544..547, as the spec defines it. */
export function fileCrc(file: Buffer): number {
  return crc32(Buffer.concat([file.subarray(0, 544), file.subarray(548)])) >>> 0
}

/** Recomputes and stores the CRC (to build files that are wrong in exactly one other way). */
export function fixCrc(file: Buffer): Buffer {
  file.writeUInt32BE(fileCrc(file), 544)
  return file
}

/** Section list from a raw EIF (test-side parser, independent of the library's). */
export function rawSections(file: Buffer): Array<{ type: number; offset: number; size: number; data: Buffer }> {
  const n = file.readUInt16BE(26)
  const out = []
  for (let i = 0; i < n; i++) {
    const off = Number(file.readBigUInt64BE(28 + 8 * i))
    const size = Number(file.readBigUInt64BE(28 + 256 + 8 * i))
    out.push({ type: file.readUInt16BE(off), offset: off, size, data: file.subarray(off + 12, off + 12 + size) })
  }
  return out
}

export interface TarMember {
  name: string
  /** Raw name bytes instead of `name` (for names that are not UTF-8). */
  rawName?: Buffer
  type?: string // '0' file, '1' hardlink, '2' symlink, '3' char, '5' dir ...
  data?: Buffer
  mode?: number
  uid?: number
  gid?: number
  mtime?: number
  linkname?: string
}

/** Minimal ustar writer, so tests can make archives that GNU tar refuses to make. */
export function makeTar(members: TarMember[]): Buffer {
  const blocks: Buffer[] = []
  for (const m of members) {
    const h = Buffer.alloc(512)
    const data = m.data ?? Buffer.alloc(0)
    if (m.rawName) m.rawName.copy(h, 0)
    else h.write(m.name, 0, 100, 'utf8')
    h.write(`${(m.mode ?? 0o644).toString(8).padStart(7, '0')}\0`, 100, 'latin1')
    h.write(`${(m.uid ?? 0).toString(8).padStart(7, '0')}\0`, 108, 'latin1')
    h.write(`${(m.gid ?? 0).toString(8).padStart(7, '0')}\0`, 116, 'latin1')
    h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1')
    h.write(`${(m.mtime ?? 1700000000).toString(8).padStart(11, '0')}\0`, 136, 'latin1')
    h.write(m.type ?? '0', 156, 'latin1')
    if (m.linkname) h.write(m.linkname, 157, 100, 'utf8')
    h.write('ustar\u000000', 257, 'latin1')
    h.fill(0x20, 148, 156)
    let sum = 0
    for (const b of h) sum += b
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512))
  }
  blocks.push(Buffer.alloc(1024))
  return Buffer.concat(blocks)
}
