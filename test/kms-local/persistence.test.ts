// Storage: restart in-process, kill -9 of a child `nitro-recipient kms-local serve` (needs the
// build, which `npm test` runs first), the master key file's mode, and a wrong master key.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'
import { KMSClient, CreateAliasCommand, CreateKeyCommand, DecryptCommand, DescribeKeyCommand, EncryptCommand } from '@aws-sdk/client-kms'
import { Store } from '../../kms-local/store.js'
import { client, start } from './helpers.js'

const dirs: string[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kms-local-persist-'))
  dirs.push(d)
  return d
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('data directory', () => {
  it('creates master.key 0600 and a WAL database; keys survive a restart', async () => {
    const dir = tempDir()
    let k = await start({ dataDir: dir })
    let c = client(k)
    const id = (await c.send(new CreateKeyCommand({ Description: 'persisted' }))).KeyMetadata!.KeyId!
    await c.send(new CreateAliasCommand({ AliasName: 'alias/p', TargetKeyId: id }))
    const blob = (await c.send(new EncryptCommand({ KeyId: id, Plaintext: Buffer.from('kept') }))).CiphertextBlob
    await k.close()
    expect(statSync(join(dir, 'master.key')).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, 'master.key')).size).toBe(32)
    expect(existsSync(join(dir, 'kms-local.sqlite'))).toBe(true)
    k = await start({ dataDir: dir })
    c = client(k)
    expect((await c.send(new DescribeKeyCommand({ KeyId: 'alias/p' }))).KeyMetadata!.Description).toBe('persisted')
    expect(Buffer.from((await c.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString()).toBe('kept')
    await k.close()
  })

  it('key material is not stored in the clear', async () => {
    const dir = tempDir()
    const s = Store.open(dir)
    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(s.db.pragma('synchronous', { simple: true })).toBe(2) // FULL
    const material = Buffer.from('0123456789abcdef0123456789abcdef')
    s.insertKey(
      { id: '11111111-1111-4111-8111-111111111111', account: '111122223333', region: 'us-east-1', created: 0, state: 'Enabled', description: '', usage: 'ENCRYPT_DECRYPT', spec: 'SYMMETRIC_DEFAULT', origin: 'AWS_KMS', policy: '{}', deletionDate: null, pendingWindowDays: null, materialId: 'x', tags: [] },
      Buffer.from(material),
    )
    expect(s.material('11111111-1111-4111-8111-111111111111')).toEqual(material)
    s.db.pragma('wal_checkpoint(TRUNCATE)')
    s.close()
    const raw = Buffer.concat([readFileSync(join(dir, 'kms-local.sqlite')), existsSync(join(dir, 'kms-local.sqlite-wal')) ? readFileSync(join(dir, 'kms-local.sqlite-wal')) : Buffer.alloc(0)])
    expect(raw.includes(material)).toBe(false)
  })

  it('refuses a master key readable by others, and a master key that does not match the database', async () => {
    const dir = tempDir()
    Store.open(dir).close()
    chmodSync(join(dir, 'master.key'), 0o644)
    expect(() => Store.open(dir)).toThrow(expect.objectContaining({ code: 'ERR_KMS_LOCAL_MASTER_KEY' }))
    chmodSync(join(dir, 'master.key'), 0o600)
    writeFileSync(join(dir, 'master.key'), Buffer.alloc(32, 7))
    expect(() => Store.open(dir)).toThrow(expect.objectContaining({ code: 'ERR_KMS_LOCAL_MASTER_KEY', message: 'the master key does not match this database' }))
  })

  it('a data directory that is a file, or a dangling master.key symlink: typed errors, not raw fs errors', () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'file'), 'x')
    expect(() => Store.open(join(dir, 'file'))).toThrow(expect.objectContaining({ code: 'ERR_KMS_LOCAL_STORE' }))
    mkdirSync(join(dir, 'd'))
    symlinkSync(join(dir, 'nowhere'), join(dir, 'd', 'master.key'))
    expect(() => Store.open(join(dir, 'd'))).toThrow(expect.objectContaining({ code: 'ERR_KMS_LOCAL_MASTER_KEY', message: expect.stringContaining('cannot read') }))
  })

  it('a master.key that is a FIFO, a directory or not 32 bytes is refused (the open does not wait for a writer)', () => {
    const dir = tempDir()
    for (const [name, make] of [
      ['fifo', (p: string) => execFileSync('mkfifo', ['-m', '600', p])],
      ['dir', (p: string) => mkdirSync(p, { mode: 0o700 })],
      ['short', (p: string) => writeFileSync(p, Buffer.alloc(31, 1), { mode: 0o600 })],
      ['long', (p: string) => writeFileSync(p, Buffer.alloc(33, 1), { mode: 0o600 })],
    ] as const) {
      mkdirSync(join(dir, name))
      make(join(dir, name, 'master.key'))
      expect(() => Store.open(join(dir, name)), name).toThrow(expect.objectContaining({ code: 'ERR_KMS_LOCAL_MASTER_KEY', message: expect.stringMatching(/not a regular file|exactly 32 bytes/) }))
    }
  })
})

interface Started {
  child: ChildProcess
  endpoint: string
  credentials: { accessKeyId: string; secretAccessKey: string }[]
}

/** Spawns the real CLI and waits for its JSON line. */
async function spawnServer(dir: string): Promise<Started> {
  const bin = new URL('../../bin/nitro-recipient.js', import.meta.url).pathname
  if (!existsSync(new URL('../../dist/kms-local/main.js', import.meta.url))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
  const child = spawn(process.execPath, [bin, 'kms-local', 'serve', '--json', '--listen', 'tcp://127.0.0.1:0', '--data-dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NITRO_RECIPIENT_LOG_LEVEL: 'warn' },
  })
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! })
    rl.once('line', resolve)
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
  })
  const info = JSON.parse(line) as { endpoint: string; credentials: { accessKeyId: string; secretAccessKey: string }[] }
  return { child, endpoint: info.endpoint, credentials: info.credentials }
}

describe('kill -9', () => {
  it('every acknowledged CreateKey/Encrypt survives SIGKILL of the server process', async () => {
    const dir = tempDir()
    let s = await spawnServer(dir)
    let c = new KMSClient({ region: 'us-east-1', endpoint: s.endpoint, credentials: s.credentials[0], maxAttempts: 1 })
    const acknowledged: { id: string; blob: Uint8Array }[] = []
    for (let i = 0; i < 10; i++) {
      const id = (await c.send(new CreateKeyCommand({ Description: `k${i}` }))).KeyMetadata!.KeyId!
      const blob = (await c.send(new EncryptCommand({ KeyId: id, Plaintext: Buffer.from(`p${i}`) }))).CiphertextBlob!
      acknowledged.push({ id, blob })
    }
    const exited = new Promise((r) => s.child.once('exit', r))
    s.child.kill('SIGKILL')
    await exited
    c.destroy()
    s = await spawnServer(dir)
    c = new KMSClient({ region: 'us-east-1', endpoint: s.endpoint, credentials: s.credentials[0], maxAttempts: 1 })
    try {
      for (const [i, a] of acknowledged.entries()) {
        expect((await c.send(new DescribeKeyCommand({ KeyId: a.id }))).KeyMetadata!.Description).toBe(`k${i}`)
        expect(Buffer.from((await c.send(new DecryptCommand({ CiphertextBlob: a.blob }))).Plaintext!).toString()).toBe(`p${i}`)
      }
    } finally {
      c.destroy()
      const exited2 = new Promise((r) => s.child.once('exit', r))
      s.child.kill('SIGTERM')
      expect(await exited2).toBe(0)
    }
  })
})
