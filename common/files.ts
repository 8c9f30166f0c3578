/**
 * Small files a component reads whole (configs, tokens, keys, PEMs, image JSON): opened once with
 * O_NONBLOCK (a FIFO cannot block the open), checked with fstat on that descriptor, and read with
 * a bound, so what was checked is what is read, whatever happens to the path meanwhile.
 * @module
 */
import { constants, type Stats } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'

/**
 * Makes the caller's typed error from a reason such as `cannot open: ENOENT`, `not a regular
 * file` or `larger than 4096 bytes` (callers prefix the path).
 */
export type Refuse = (why: string, cause?: unknown) => Error

/** Opens `path` for reading if it is a regular file (a symlink to one is fine). */
export async function openRegularFile(path: string, refuse: Refuse): Promise<{ fh: FileHandle; stat: Stats }> {
  let fh: FileHandle
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
  } catch (e) {
    throw refuse(`cannot open: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, e)
  }
  let stat: Stats
  try {
    stat = await fh.stat()
  } catch (e) {
    await fh.close()
    throw refuse(`cannot read: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, e)
  }
  if (!stat.isFile()) {
    await fh.close()
    throw refuse('not a regular file')
  }
  return { fh, stat }
}

export interface ReadRegularFileOptions {
  /** Refuse a file group or others may read or write (mode & 0o077): keys and tokens. */
  ownerOnly?: boolean
}

/** The whole of a regular file of at most `max` bytes. */
export async function readRegularFile(path: string, max: number, refuse: Refuse, opts: ReadRegularFileOptions = {}): Promise<Buffer> {
  const { fh, stat } = await openRegularFile(path, refuse)
  try {
    if (opts.ownerOnly === true && (stat.mode & 0o077) !== 0) {
      throw refuse(`accessible by group or others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`)
    }
    if (stat.size > max) throw refuse(`larger than ${max} bytes`)
    // one byte more than fstat said, to notice a file that grew
    const b = Buffer.alloc(stat.size + 1)
    let n = 0
    try {
      while (n < b.length) {
        const { bytesRead } = await fh.read(b, n, b.length - n, n)
        if (bytesRead === 0) break
        n += bytesRead
      }
    } catch (e) {
      b.fill(0)
      throw refuse(`cannot read: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, e)
    }
    if (n !== stat.size) {
      b.fill(0)
      throw refuse('changed while reading')
    }
    return b.subarray(0, n)
  } finally {
    await fh.close()
  }
}
