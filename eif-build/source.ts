/**
 * Where the bytes of a ramdisk entry come from: a file on disk, a byte range of an archive, or a
 * buffer. Sources are opened only when their entry is written, so a 1 GiB rootfs never sits in
 * memory and only one file descriptor is open at a time.
 *
 * Reads are synchronous on purpose: a rootfs is tens of thousands of small files, and a
 * threadpool round trip (plus promise turns) per open/read/close costs more than the I/O.
 * @module
 */
import { closeSync, openSync, readSync } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { openRegularFile as openFile, readRegularFile as readFile, type Refuse } from '../common/files.js'
import { EifError, type EifErrorCode } from './errors.js'

const refuseAs = (path: string, what: string, code: EifErrorCode): Refuse => (why) => new EifError(code, `${what} ${path}: ${why}`)

/** common/files' openRegularFile with EifErrors naming `what` and the path. */
export async function openRegularFile(path: string, what: string, code: EifErrorCode = 'ERR_EIF_INPUT'): Promise<{ fh: FileHandle; size: number }> {
  const { fh, stat } = await openFile(path, refuseAs(path, what, code))
  return { fh, size: stat.size }
}

/** The whole of a regular file of at most `max` bytes (common/files). */
export function readRegularFile(path: string, what: string, max: number, code: EifErrorCode = 'ERR_EIF_INPUT'): Promise<Buffer> {
  return readFile(path, max, refuseAs(path, what, code))
}

/** A positional reader over `size` bytes. */
export interface OpenSource {
  /** Reads up to `length` bytes at `position` (relative to the source) into `buf[offset..]`. */
  read(buf: Uint8Array, offset: number, length: number, position: number): number
  close(): void
}

export interface DataSource {
  readonly size: number
  open(): OpenSource
}

/** Bytes held in memory (small generated files: cmd, env, etc/hosts). */
export function bufferSource(data: Uint8Array): DataSource {
  return {
    size: data.length,
    open: () => ({
      read: (buf, offset, length, position) => {
        const n = Math.max(0, Math.min(length, data.length - position))
        buf.set(data.subarray(position, position + n), offset)
        return n
      },
      close: () => {},
    }),
  }
}

/**
 * `size` bytes of the file at `path` starting at `start`. A file that shrank since it was listed
 * is an error when its data is copied (a short read); the rootfs must not change during a build.
 */
export function fileSource(path: string, start: number, size: number): DataSource {
  return {
    size,
    open: () => {
      let fd: number
      try {
        fd = openSync(path, 'r')
      } catch (e) {
        throw new EifError('ERR_EIF_INPUT', `${path}: cannot open: ${(e as NodeJS.ErrnoException).code ?? 'error'}`)
      }
      return {
        read: (buf, offset, length, position) => {
          const n = Math.max(0, Math.min(length, size - position))
          return n === 0 ? 0 : readSync(fd, buf, offset, n, start + position)
        },
        close: () => closeSync(fd),
      }
    },
  }
}

/** Reads the whole of `src` into `write`, in chunks of at most `buf.length` bytes. */
export async function pumpSource(src: DataSource, buf: Buffer, write: (b: Buffer) => Promise<void>): Promise<void> {
  const r = src.open()
  try {
    let pos = 0
    while (pos < src.size) {
      const n = r.read(buf, 0, Math.min(buf.length, src.size - pos), pos)
      if (n <= 0) throw new EifError('ERR_EIF_INPUT', 'input ended early (file shrank while building?)')
      await write(buf.subarray(0, n))
      pos += n
    }
  } finally {
    r.close()
  }
}
