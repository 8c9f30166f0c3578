/**
 * newc ("070701") cpio, written with linuxkit's conventions (surma/gocpio as vendored by linuxkit
 * v1.5.2): inode numbers from 721 up by one per entry (the trailer too), dev 3:1, nlink 2 for
 * directories and 1 otherwise, lowercase hex, header+name and data each padded to 4 bytes from the
 * start of the archive, and the archive zero-padded to a multiple of 512 after `TRAILER!!!`.
 * Output depends only on the entries given, so equal inputs give equal bytes.
 *
 * Also a strict reader (`parseCpio`) for tests, tools and fuzzing.
 * @module
 */
import { EifError, fail } from './errors.js'
import type { DataSource } from './source.js'

export type CpioType = 'file' | 'dir' | 'symlink' | 'fifo'

const TYPE_BITS: Record<CpioType, number> = { fifo: 0o010000, dir: 0o040000, file: 0o100000, symlink: 0o120000 }
const FORMAT_MASK = 0o170000

/** linuxkit's first inode number. */
export const LINUXKIT_FIRST_INO = 721
/** Longest name the kernel's initramfs unpacker takes (PATH_MAX including the NUL). */
export const MAX_NAME_BYTES = 4095
/** Longest symlink target the kernel's unpacker takes (`body_len > PATH_MAX`: the entry is skipped). */
export const MAX_LINK_BYTES = 4096
const U32 = 0xffffffff

export interface CpioEntry {
  name: string
  type: CpioType
  /** Permission bits, including setuid/setgid/sticky (0..0o7777). */
  perm: number
  uid: number
  gid: number
  /** Seconds since the epoch, 0..2^32-1. */
  mtime: number
  /** Regular file contents. Absent means empty (or, with `ino` set, a hard-link member without data). */
  data?: DataSource
  /** Symlink target text. */
  linkTarget?: string
  /** Hard-link group: reuse an earlier entry's inode number; `nlink` is the group size. */
  ino?: number
  nlink?: number
}

function u32(value: number, what: string, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value > U32) {
    throw new EifError('ERR_EIF_INPUT', `${name}: ${what} ${value} does not fit a cpio field`)
  }
  return value
}

const HEX = Buffer.from('0123456789abcdef', 'latin1')

/** Writes `v` as 8 lowercase hex digits at `buf[pos]` (no string allocation per field). */
function hex8(buf: Buffer, pos: number, v: number): void {
  for (let i = 7; i >= 0; i--) {
    buf[pos + i] = HEX[v & 0xf]
    v >>>= 4
  }
}

const MAGIC = Buffer.from('070701', 'latin1')

/**
 * Streams a newc archive to `out`, which must be done with each chunk when its promise settles.
 * Headers, names and padding are written straight into one staging buffer; the hot path awaits
 * only when the buffer is full.
 */
export class CpioWriter {
  private readonly out: (chunk: Buffer) => Promise<void>
  private readonly buf: Buffer
  private pos = 0
  private length = 0
  private ino: number
  private finished = false

  constructor(out: (chunk: Buffer) => Promise<void>, opts: { firstIno?: number; bufferSize?: number } = {}) {
    this.out = out
    this.ino = opts.firstIno ?? LINUXKIT_FIRST_INO
    this.buf = Buffer.allocUnsafe(Math.max(opts.bufferSize ?? 1 << 20, 8192))
  }

  /** Bytes written so far (including buffered ones). */
  get size(): number {
    return this.length
  }

  /** The inode number the next entry will get. */
  get nextIno(): number {
    return this.ino
  }

  private async flush(): Promise<void> {
    if (this.pos > 0) {
      const n = this.pos
      this.pos = 0
      await this.out(this.buf.subarray(0, n))
    }
  }

  /** Room for `n` more bytes (n <= buffer size): a promise only when a flush is needed. */
  private room(n: number): Promise<void> | undefined {
    return n > this.buf.length - this.pos ? this.flush() : undefined
  }

  private async putLarge(b: Uint8Array): Promise<void> {
    await this.flush()
    await this.out(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
    this.length += b.length
  }

  /** Copies `b` in; a promise only when the buffer had to be flushed. */
  private put(b: Uint8Array): Promise<void> | undefined {
    if (b.length > this.buf.length) return this.putLarge(b)
    const wait = this.room(b.length)
    if (wait) {
      return wait.then(() => {
        this.buf.set(b, this.pos)
        this.pos += b.length
        this.length += b.length
      })
    }
    this.buf.set(b, this.pos)
    this.pos += b.length
    this.length += b.length
    return undefined
  }

  /** Zero bytes up to the next multiple of `mod` of the archive length (mod <= 512). */
  private pad(mod: number): Promise<void> | undefined {
    const n = (mod - (this.length % mod)) % mod
    if (n === 0) return undefined
    const fill = (): void => {
      this.buf.fill(0, this.pos, this.pos + n)
      this.pos += n
      this.length += n
    }
    const wait = this.room(n)
    if (wait) return wait.then(fill)
    fill()
    return undefined
  }

  private header(name: string, mode: number, uid: number, gid: number, nlink: number, mtime: number, size: number, ino: number): Promise<void> | undefined {
    const nameLen = Buffer.byteLength(name, 'utf8')
    const total = 110 + nameLen + 1
    const padded = total + ((4 - ((this.length + total) % 4)) % 4)
    const write = (): void => {
      const b = this.buf
      const p = this.pos
      MAGIC.copy(b, p)
      const fields = [ino, mode, uid, gid, nlink, mtime, size, 3, 1, 0, 0, nameLen + 1, 0]
      for (let i = 0; i < 13; i++) hex8(b, p + 6 + 8 * i, fields[i])
      b.write(name, p + 110, 'utf8')
      b.fill(0, p + 110 + nameLen, p + padded)
      this.pos += padded
      this.length += padded
    }
    const wait = this.room(padded)
    if (wait) return wait.then(write)
    write()
    return undefined
  }

  /**
   * Appends one entry (header, name, data, padding). Returns a promise only when the staging
   * buffer had to be flushed; callers `const p = w.add(e); if (p) await p`.
   */
  add(e: CpioEntry): Promise<void> | undefined {
    if (this.finished) throw new TypeError('CpioWriter: add after finish')
    const name = e.name
    if (name.length === 0 || name.includes('\0') || Buffer.byteLength(name) > MAX_NAME_BYTES) {
      throw new EifError('ERR_EIF_ROOTFS_PATH', `cpio name unusable (empty, NUL or longer than ${MAX_NAME_BYTES} bytes): ${JSON.stringify(name.slice(0, 64))}`)
    }
    if (!Number.isInteger(e.perm) || e.perm < 0 || e.perm > 0o7777) throw new TypeError(`CpioWriter: bad perm for ${name}`)
    let size = 0
    let link: Buffer | null = null
    if (e.type === 'symlink') {
      if (e.linkTarget === undefined || e.linkTarget.length === 0 || e.linkTarget.includes('\0')) {
        throw new EifError('ERR_EIF_ROOTFS_SYMLINK', `${name}: empty or NUL-containing symlink target`)
      }
      link = Buffer.from(e.linkTarget, 'utf8')
      if (link.length > MAX_LINK_BYTES) {
        throw new EifError('ERR_EIF_ROOTFS_SYMLINK', `${name}: symlink target of ${link.length} bytes is longer than ${MAX_LINK_BYTES}; the kernel would silently leave the link out`)
      }
      size = link.length
    } else if (e.type === 'file' && e.data !== undefined) {
      size = e.data.size
    }
    if (size > U32) throw new EifError('ERR_EIF_TOO_LARGE', `${name}: ${size} bytes does not fit a newc entry (4 GiB - 1)`)
    const ino = e.ino ?? this.ino
    this.ino++
    const nlink = e.nlink ?? (e.type === 'dir' ? 2 : 1)
    const body = (): Promise<void> | undefined => {
      let w: Promise<void> | undefined
      if (link !== null) w = this.put(link)
      else if (size > 0 && e.data !== undefined) w = this.copySource(e.data, name)
      return w ? w.then(() => this.pad(4)) : this.pad(4)
    }
    const h = this.header(name, TYPE_BITS[e.type] | e.perm, u32(e.uid, 'uid', name), u32(e.gid, 'gid', name), nlink, u32(e.mtime, 'mtime', name), size, ino)
    return h ? h.then(body) : body()
  }

  /** Reads a source straight into the staging buffer; a promise only when a flush was needed. */
  private copySource(src: DataSource, name: string): Promise<void> | undefined {
    const r = src.open()
    let closed = false
    const close = (): void => {
      if (!closed) {
        closed = true
        r.close()
      }
    }
    let done = 0
    const run = (): Promise<void> | undefined => {
      try {
        while (done < src.size) {
          if (this.pos === this.buf.length) {
            return this.flush().then(run, (err: unknown) => {
              close()
              throw err
            })
          }
          const want = Math.min(this.buf.length - this.pos, src.size - done)
          const n = r.read(this.buf, this.pos, want, done)
          if (n <= 0) throw new EifError('ERR_EIF_INPUT', `${name}: ended after ${done} of ${src.size} bytes (changed while building?)`)
          this.pos += n
          this.length += n
          done += n
        }
        close()
        return undefined
      } catch (err) {
        close()
        throw err
      }
    }
    return run()
  }

  /** Writes the trailer, pads to 512 and flushes. Returns the archive length. */
  async finish(): Promise<number> {
    if (this.finished) throw new TypeError('CpioWriter: finish called twice')
    this.finished = true
    await this.header('TRAILER!!!', 0, 0, 0, 1, 0, 0, this.ino++)
    await this.pad(512)
    await this.flush()
    return this.length
  }
}

/** One parsed entry of {@link parseCpio}. */
export interface ParsedCpioEntry {
  name: string
  ino: number
  mode: number
  type: CpioType | 'char' | 'block' | 'socket'
  uid: number
  gid: number
  nlink: number
  mtime: number
  devMajor: number
  devMinor: number
  rdevMajor: number
  rdevMinor: number
  data: Buffer
}

const TYPE_OF: Record<number, ParsedCpioEntry['type']> = {
  0o010000: 'fifo', 0o020000: 'char', 0o040000: 'dir', 0o060000: 'block', 0o100000: 'file', 0o120000: 'symlink', 0o140000: 'socket',
}

/**
 * Strict reader of one newc archive (as the writer produces): every header `070701` with 13
 * 8-hex-digit fields, names NUL-terminated, padding bytes zero, a `TRAILER!!!`, then only zero
 * bytes. Bounded by `maxEntries`. Throws `ERR_EIF_CPIO` for anything else.
 */
export function parseCpio(bytes: Uint8Array, opts: { maxEntries?: number } = {}): ParsedCpioEntry[] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const maxEntries = opts.maxEntries ?? 1_000_000
  const entries: ParsedCpioEntry[] = []
  let p = 0
  const need = (n: number, what: string): void => {
    if (p + n > b.length) fail('ERR_EIF_CPIO', `truncated ${what} at offset ${p}`)
  }
  const zeros = (n: number, what: string): void => {
    need(n, what)
    for (let i = 0; i < n; i++) if (b[p + i] !== 0) fail('ERR_EIF_CPIO', `non-zero ${what} at offset ${p + i}`)
    p += n
  }
  for (;;) {
    if (entries.length >= maxEntries) fail('ERR_EIF_CPIO', `more than ${maxEntries} entries`)
    need(110, 'header')
    if (b.toString('latin1', p, p + 6) !== '070701') fail('ERR_EIF_CPIO', `bad magic at offset ${p}`)
    const f: number[] = []
    for (let i = 0; i < 13; i++) {
      const s = b.toString('latin1', p + 6 + 8 * i, p + 14 + 8 * i)
      if (!/^[0-9a-fA-F]{8}$/.test(s)) fail('ERR_EIF_CPIO', `bad hex field at offset ${p + 6 + 8 * i}`)
      f.push(parseInt(s, 16))
    }
    const [ino, mode, uid, gid, nlink, mtime, filesize, devMajor, devMinor, rdevMajor, rdevMinor, namesize, check] = f
    if (check !== 0) fail('ERR_EIF_CPIO', `non-zero check field at offset ${p}`)
    if (namesize < 2 || namesize > MAX_NAME_BYTES + 1) fail('ERR_EIF_CPIO', `bad name size ${namesize} at offset ${p}`)
    const start = p
    p += 110
    need(namesize, 'name')
    if (b[p + namesize - 1] !== 0) fail('ERR_EIF_CPIO', `name not NUL-terminated at offset ${p}`)
    const nameBytes = b.subarray(p, p + namesize - 1)
    if (nameBytes.includes(0)) fail('ERR_EIF_CPIO', `NUL inside name at offset ${p}`)
    const name = nameBytes.toString('utf8')
    p += namesize
    zeros((4 - ((p - 0) % 4)) % 4, 'header padding')
    if (name === 'TRAILER!!!') {
      if (filesize !== 0) fail('ERR_EIF_CPIO', 'trailer with data')
      zeros(b.length - p, 'bytes after the trailer')
      return entries
    }
    const type = TYPE_OF[mode & FORMAT_MASK]
    if (type === undefined) fail('ERR_EIF_CPIO', `unknown file type in mode 0${mode.toString(8)} at offset ${start}`)
    if (filesize > 0 && type !== 'file' && type !== 'symlink') fail('ERR_EIF_CPIO', `${type} entry with data at offset ${start}`)
    need(filesize, 'data')
    const data = b.subarray(p, p + filesize)
    p += filesize
    zeros((4 - (p % 4)) % 4, 'data padding')
    entries.push({ name, ino, mode, type, uid, gid, nlink, mtime, devMajor, devMinor, rdevMajor, rdevMinor, data })
  }
}
