/**
 * A small strict tar reader (ustar, GNU long names, PAX) that indexes an archive held in a file,
 * or in a byte range of one (a layer inside a `docker save` archive), without loading it: it
 * returns each entry's metadata and where its data lies. Bounded (entry count, extended-header
 * size, name length); header checksums verified; every defect is `ERR_EIF_TAR`.
 * @module
 */
import type { FileHandle } from 'node:fs/promises'
import { fail } from './errors.js'
import { openRegularFile } from './source.js'

export type TarType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo'

export interface TarEntry {
  /** Path as stored (after PAX/GNU long-name overrides), not yet normalised. */
  name: string
  type: TarType
  /** Permission bits including setuid/setgid/sticky. */
  mode: number
  uid: number
  gid: number
  /** Seconds since the epoch (fractions from PAX dropped). */
  mtime: number
  size: number
  /** Hard-link or symlink target. */
  linkname: string
  /** Absolute file offset of the data. */
  dataOffset: number
}

export interface TarLimits {
  maxEntries?: number
  /** Largest PAX / GNU long-name record accepted. */
  maxExtendedHeader?: number
}

const BLOCK = 512
const TYPES: Record<string, TarType> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo' }

/** Windowed positional reader: one big read serves many 512-byte headers. */
class Window {
  private buf = Buffer.alloc(0)
  private start = 0
  constructor(private readonly fh: FileHandle, private readonly size: number) {}
  async at(pos: number, len: number): Promise<Buffer> {
    if (pos + len > this.size) fail('ERR_EIF_TAR', `truncated archive: needs ${pos + len} bytes, has ${this.size}`)
    if (pos < this.start || pos + len > this.start + this.buf.length) {
      const want = Math.min(Math.max(len, 256 * 1024), this.size - pos)
      const b = Buffer.alloc(want)
      const { bytesRead } = await this.fh.read(b, 0, want, pos)
      if (bytesRead < len) fail('ERR_EIF_TAR', 'archive shrank while reading')
      this.buf = b.subarray(0, bytesRead)
      this.start = pos
    }
    return this.buf.subarray(pos - this.start, pos - this.start + len)
  }
}

// ignoreBOM: a name that starts with U+FEFF is another name (docker keeps the bytes), not a BOM
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** NUL-terminated UTF-8 field; a name that is not UTF-8 would come out altered, so it is refused. */
function cstr(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len)
  const z = s.indexOf(0)
  try {
    return strictUtf8.decode(z < 0 ? s : s.subarray(0, z))
  } catch {
    return fail('ERR_EIF_TAR', 'a name in the archive is not UTF-8')
  }
}

/** Octal (NUL/space terminated) or GNU base-256 numeric field. */
function num(b: Buffer, off: number, len: number, what: string): number {
  const f = b.subarray(off, off + len)
  if (f[0] & 0x80) {
    if (f[0] !== 0x80) fail('ERR_EIF_TAR', `${what}: negative or oversized base-256 number`)
    let v = 0
    for (let i = 1; i < len; i++) {
      v = v * 256 + f[i]
      if (v > Number.MAX_SAFE_INTEGER) fail('ERR_EIF_TAR', `${what}: number too large`)
    }
    return v
  }
  const s = f.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '')
  if (s === '') return 0
  if (!/^[0-7]+$/.test(s)) fail('ERR_EIF_TAR', `${what}: not an octal number`)
  const v = parseInt(s, 8)
  if (!Number.isSafeInteger(v)) fail('ERR_EIF_TAR', `${what}: number too large`)
  return v
}

function checksumOk(h: Buffer): boolean {
  const stored = num(h, 148, 8, 'checksum')
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]
  return sum === stored
}

/** Parses PAX records `"<len> key=value\n"`; strict on lengths and syntax. */
export function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>()
  let p = 0
  while (p < data.length) {
    const sp = data.indexOf(0x20, p)
    if (sp < 0 || sp - p > 20) fail('ERR_EIF_TAR', 'malformed PAX record length')
    const lenStr = data.toString('latin1', p, sp)
    if (!/^[1-9][0-9]*$/.test(lenStr)) fail('ERR_EIF_TAR', 'malformed PAX record length')
    const len = Number(lenStr)
    if (p + len > data.length || data[p + len - 1] !== 0x0a) fail('ERR_EIF_TAR', 'PAX record overruns its header')
    const rec = data.subarray(sp + 1, p + len - 1)
    const eq = rec.indexOf(0x3d)
    if (eq <= 0) fail('ERR_EIF_TAR', 'PAX record without key')
    let key: string
    let value: string
    try {
      key = strictUtf8.decode(rec.subarray(0, eq))
      value = strictUtf8.decode(rec.subarray(eq + 1))
    } catch {
      return fail('ERR_EIF_TAR', 'PAX record is not UTF-8')
    }
    if (out.has(key)) fail('ERR_EIF_TAR', `duplicate PAX key ${key}`)
    // PAX-format GNU sparse files: their data is a sparse map, which docker expands and we would not
    if (key.startsWith('GNU.sparse.')) fail('ERR_EIF_TAR', `GNU sparse file (PAX ${key}) is not supported`)
    out.set(key, value)
    p += len
  }
  return out
}

function paxNumber(v: string, what: string): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(v)) fail('ERR_EIF_TAR', `PAX ${what}: not a non-negative number`)
  const n = Math.floor(Number(v))
  if (!Number.isSafeInteger(n)) fail('ERR_EIF_TAR', `PAX ${what}: too large`)
  return n
}

/**
 * Indexes the tar archive occupying `[start, start+length)` of `path`. Data is not read, except
 * extended headers. The archive must end with a zero block (two are usual); the block after the
 * first zero block, when there is one, must be zero too; bytes after that are ignored as tar's
 * record padding.
 */
export async function indexTar(path: string, start = 0, length?: number, limits: TarLimits = {}): Promise<TarEntry[]> {
  const maxEntries = limits.maxEntries ?? 2_000_000
  const maxExt = limits.maxExtendedHeader ?? 1 << 20
  const { fh, size: fileSize } = await openRegularFile(path, 'archive')
  try {
    const size = length ?? fileSize - start
    const end = start + size
    const win = new Window(fh, end)
    const entries: TarEntry[] = []
    let pos = start
    let pax: Map<string, string> | null = null
    let longName: string | null = null
    let longLink: string | null = null
    for (;;) {
      if (pos + BLOCK > end) fail('ERR_EIF_TAR', 'archive ends without an end-of-archive block')
      const h = await win.at(pos, BLOCK)
      if (h.every((x) => x === 0)) {
        if (pax || longName !== null || longLink !== null) fail('ERR_EIF_TAR', 'extended header not followed by an entry')
        // Go's archive/tar (docker) fails on a zero block followed by a header: entries after it
        // would be hidden from one reader and not the other
        if (pos + 2 * BLOCK <= end && !(await win.at(pos + BLOCK, BLOCK)).every((x) => x === 0)) {
          fail('ERR_EIF_TAR', `a single zero block at offset ${pos - start} is followed by more data`)
        }
        return entries
      }
      if (!checksumOk(h)) fail('ERR_EIF_TAR', `header checksum mismatch at offset ${pos - start}`)
      const flag = String.fromCharCode(h[156])
      let size = num(h, 124, 12, 'size')
      const dataOffset = pos + BLOCK
      const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK
      if (next > end || next < dataOffset) fail('ERR_EIF_TAR', `entry at offset ${pos - start} overruns the archive`)
      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        if (size > maxExt) fail('ERR_EIF_TAR', `extended header of ${size} bytes exceeds ${maxExt}`)
        const data = Buffer.from(await win.at(dataOffset, size))
        if (flag === 'x') {
          if (pax) fail('ERR_EIF_TAR', 'two PAX headers for one entry')
          pax = parsePax(data)
        } else if (flag === 'L') {
          if (longName !== null) fail('ERR_EIF_TAR', 'two GNU long names for one entry')
          longName = cstr(data, 0, data.length)
        } else if (flag === 'K') {
          if (longLink !== null) fail('ERR_EIF_TAR', 'two GNU long links for one entry')
          longLink = cstr(data, 0, data.length)
        } else {
          parsePax(data) // global header: validated, then ignored (nothing we use is set globally)
        }
        pos = next
        continue
      }
      let type = TYPES[flag]
      if (type === undefined) fail('ERR_EIF_TAR', `unsupported tar entry type ${JSON.stringify(flag)} at offset ${pos - start}`)
      const magic = h.toString('latin1', 257, 263)
      let name = cstr(h, 0, 100)
      if (magic === 'ustar\0' || magic === 'ustar ') {
        const prefix = magic === 'ustar\0' ? cstr(h, 345, 155) : ''
        if (prefix !== '') name = `${prefix}/${name}`
      }
      let linkname = cstr(h, 157, 100)
      let mode = num(h, 100, 8, 'mode') & 0o7777
      let uid = num(h, 108, 8, 'uid')
      let gid = num(h, 116, 8, 'gid')
      let mtime = num(h, 136, 12, 'mtime')
      if (longName !== null) name = longName
      if (longLink !== null) linkname = longLink
      if (pax) {
        for (const [k, v] of pax) {
          if (k === 'path') name = v
          else if (k === 'linkpath') linkname = v
          else if (k === 'size') size = paxNumber(v, k)
          else if (k === 'uid') uid = paxNumber(v, k)
          else if (k === 'gid') gid = paxNumber(v, k)
          else if (k === 'mtime') mtime = paxNumber(v, k)
          else if (k === 'mode') mode = paxNumber(v, k) & 0o7777
        }
      }
      // Go's archive/tar (docker): an old-style '\0' entry whose name ends in '/' is a directory
      if (flag === '\0' && name.endsWith('/')) type = 'dir'
      const realNext = dataOffset + Math.ceil(size / BLOCK) * BLOCK
      if (realNext > end) fail('ERR_EIF_TAR', `entry ${JSON.stringify(name)} overruns the archive`)
      if (type !== 'file' && size !== 0 && type !== 'hardlink') fail('ERR_EIF_TAR', `${type} entry ${JSON.stringify(name)} has data`)
      if (name.length === 0 || name.length > 4096) fail('ERR_EIF_TAR', 'entry name empty or longer than 4096')
      entries.push({ name, type, mode, uid, gid, mtime, size: type === 'hardlink' ? 0 : size, linkname, dataOffset })
      if (entries.length > maxEntries) fail('ERR_EIF_TAR', `more than ${maxEntries} entries`)
      pax = null
      longName = null
      longLink = null
      pos = realNext
    }
  } finally {
    await fh.close()
  }
}
