import { execFileSync } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readRegularFile } from '../../common/files.js'

const dir = mkdtempSync(join(tmpdir(), 'common-files-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const refuse = (why: string): Error => Object.assign(new Error(why), { code: 'ERR_TEST' })

describe('readRegularFile', () => {
  it('reads a regular file (through a symlink too) up to the bound', async () => {
    writeFileSync(join(dir, 'f'), 'hello')
    symlinkSync(join(dir, 'f'), join(dir, 'link'))
    expect((await readRegularFile(join(dir, 'f'), 5, refuse)).toString()).toBe('hello')
    expect((await readRegularFile(join(dir, 'link'), 5, refuse)).toString()).toBe('hello')
    writeFileSync(join(dir, 'empty'), '')
    expect(await readRegularFile(join(dir, 'empty'), 5, refuse)).toHaveLength(0)
  })

  it("refuses, with the caller's error, what is too large, missing, or not a regular file, without blocking on a FIFO", async () => {
    await expect(readRegularFile(join(dir, 'f'), 4, refuse)).rejects.toMatchObject({ code: 'ERR_TEST', message: 'larger than 4 bytes' })
    await expect(readRegularFile(join(dir, 'missing'), 4, refuse)).rejects.toMatchObject({ code: 'ERR_TEST', message: 'cannot open: ENOENT' })
    execFileSync('mkfifo', [join(dir, 'fifo')])
    for (const p of [join(dir, 'fifo'), '/dev/zero', dir]) {
      await expect(readRegularFile(p, 4, refuse), p).rejects.toMatchObject({ code: 'ERR_TEST', message: p === dir ? expect.stringMatching(/not a regular file|EISDIR/) : 'not a regular file' })
    }
  })

  it("a read that fails is the caller's error too, not a raw errno (/proc/self/mem: a regular file whose offset 0 cannot be read)", async () => {
    await expect(readRegularFile('/proc/self/mem', 10, refuse)).rejects.toMatchObject({ code: 'ERR_TEST', message: 'cannot read: EIO' })
  })

  it('ownerOnly refuses a file group or others may read or write', async () => {
    writeFileSync(join(dir, 'key'), 'k', { mode: 0o600 })
    expect((await readRegularFile(join(dir, 'key'), 4, refuse, { ownerOnly: true })).toString()).toBe('k')
    for (const mode of [0o640, 0o604, 0o620]) {
      chmodSync(join(dir, 'key'), mode)
      await expect(readRegularFile(join(dir, 'key'), 4, refuse, { ownerOnly: true })).rejects.toMatchObject({ message: expect.stringContaining(`mode ${mode.toString(8)}`) })
    }
  })
})
