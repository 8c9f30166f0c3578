// common/cli.ts readInput: the bound holds for every kind of file, and unreadable paths are usage errors.
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { UsageError, readInput } from '../../common/cli.js'
import { captureIo } from '../helpers/io.js'

const dir = mkdtempSync(join(tmpdir(), 'nr-common-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('readInput', () => {
  it('reads a regular file and stdin within the bound, refuses either past it', async () => {
    const f = join(dir, 'small')
    writeFileSync(f, 'abc')
    expect((await readInput(f, captureIo().io, 3)).toString()).toBe('abc')
    await expect(readInput(f, captureIo().io, 2)).rejects.toBeInstanceOf(UsageError)
    expect((await readInput('-', captureIo('xyz').io, 3)).toString()).toBe('xyz')
    await expect(readInput('-', captureIo('xyzw').io, 3)).rejects.toBeInstanceOf(UsageError)
  })

  it('bounds a FIFO too (stat says size 0 for it, /dev/stdin and <(...))', async () => {
    const fifo = join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    const writer = spawn('sh', ['-c', `head -c 200000 /dev/zero > '${fifo}'`], { stdio: 'ignore' })
    const exited = new Promise((resolve) => writer.once('exit', resolve))
    await expect(readInput(fifo, captureIo().io, 16 * 1024)).rejects.toMatchObject({ code: 'ERR_USAGE', message: expect.stringContaining('larger than 16384 bytes') })
    writer.kill()
    await exited
  })

  it('a missing file or a directory is a usage error, not an internal one', async () => {
    await expect(readInput(join(dir, 'missing'), captureIo().io, 10)).rejects.toMatchObject({ code: 'ERR_USAGE', message: expect.stringContaining('ENOENT') })
    await expect(readInput(dir, captureIo().io, 10)).rejects.toMatchObject({ code: 'ERR_USAGE', message: expect.stringContaining('EISDIR') })
  })
})
