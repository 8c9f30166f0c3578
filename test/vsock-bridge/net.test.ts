import { mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { connect, endpoints, listen } from '../../vsock-bridge/index.js'
import { FAMILY_INET, requireBinding } from '../../vsock-bridge/native.js'

const dir = mkdtempSync(join(tmpdir(), 'vsock-bridge-net-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function readAll(s: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    s.on('data', (c: Buffer) => parts.push(c))
    s.once('end', () => resolve(Buffer.concat(parts)))
    s.once('error', reject)
  })
}

const echo = (s: Socket): void => {
  s.on('error', () => {})
  s.pipe(s)
}

describe('connect/listen over tcp and unix', () => {
  it('tcp port 0 resolves to the real port and echoes', async () => {
    const l = await listen('tcp://127.0.0.1:0', echo)
    expect(l.address.kind).toBe('tcp')
    const port = (l.address as { port: number }).port
    expect(port).toBeGreaterThan(0)
    const s = await connect(l.address)
    expect(endpoints(s).remote).toEqual({ kind: 'tcp', host: '127.0.0.1', port })
    s.end('ping')
    expect((await readAll(s)).toString()).toBe('ping')
    await l.close()
    expect(l.connections).toBe(0)
  })

  it('unix path: echo, endpoints, socket file removed on close', async () => {
    const path = join(dir, 'echo.sock')
    const l = await listen(`unix:${path}`, echo)
    const s = await connect(`unix:${path}`)
    expect(endpoints(s).remote).toEqual({ kind: 'unix', path, abstract: false })
    s.end('hello')
    expect((await readAll(s)).toString()).toBe('hello')
    await l.close()
    expect(existsSync(path)).toBe(false)
  })

  it('unix abstract names work', async () => {
    const name = `nitro-recipient-test-${process.pid}-${Date.now()}`
    const l = await listen(`unix:@${name}`, echo)
    const s = await connect(`unix:@${name}`)
    s.end('abstract')
    expect((await readAll(s)).toString()).toBe('abstract')
    await l.close()
  })

  it('errors carry Node errno codes', async () => {
    await expect(connect(`unix:${join(dir, 'missing.sock')}`)).rejects.toMatchObject({ code: 'ENOENT', syscall: 'connect', name: 'SocketError' })
    const l = await listen('tcp://127.0.0.1:0', echo)
    const addr = l.address
    await expect(listen(addr, echo)).rejects.toMatchObject({ code: 'EADDRINUSE', syscall: 'listen' })
    await l.close()
    await expect(connect(addr)).rejects.toMatchObject({ code: 'ECONNREFUSED' })
  })

  it('abort rejects with ABORT_ERR, before and during the attempt', async () => {
    await expect(connect('tcp://127.0.0.1:9', { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORT_ERR' })
    const l = await listen('tcp://127.0.0.1:0', echo)
    const ac = new AbortController()
    const p = connect(l.address, { signal: ac.signal })
    ac.abort()
    await expect(p).rejects.toMatchObject({ code: 'ABORT_ERR' })
    await l.close()
  })

  it('close() destroys open connections after graceMs and waits for them', async () => {
    const accepted: Socket[] = []
    const l = await listen('tcp://127.0.0.1:0', (s) => {
      s.on('error', () => {})
      accepted.push(s)
    })
    const s = await connect(l.address)
    s.on('error', () => {})
    await new Promise((r) => setImmediate(r))
    while (l.connections < 1) await new Promise((r) => setTimeout(r, 5))
    const closedByPeer = new Promise((r) => s.once('close', r))
    await l.close({ graceMs: 10 })
    expect(l.connections).toBe(0)
    expect(accepted[0]?.destroyed).toBe(true)
    await closedByPeer
  })

  it('a tcp connect that cannot complete fails with ETIMEDOUT after timeoutMs and releases its fd', async () => {
    // A listener that never accepts, its backlog full (made with the addon: net.Server always
    // accepts), leaves further connects pending.
    const b = requireBinding('test')
    const lfd = b.socket(FAMILY_INET)
    const filled: Socket[] = []
    try {
      b.bind(lfd, FAMILY_INET, 0x7f000001, 0)
      b.listen(lfd, 0)
      const address = `tcp://127.0.0.1:${(b.getsockname(lfd) as [number, number])[1]}`
      await new Promise((r) => setImmediate(r))
      const before = readdirSync('/proc/self/fd').length
      let err: unknown
      for (let i = 0; i < 16 && err === undefined; i++) {
        await connect(address, { timeoutMs: 200 }).then((s) => filled.push(s.on('error', () => {})), (e: unknown) => (err = e))
      }
      expect(err).toMatchObject({ name: 'SocketError', code: 'ETIMEDOUT', syscall: 'connect', address, message: expect.stringMatching(/within 200 ms/) })
      for (const s of filled) s.destroy()
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
      expect(readdirSync('/proc/self/fd').length).toBe(before)
    } finally {
      for (const s of filled) s.destroy()
      b.close(lfd)
    }
  })

  it('invalid options are rejected before any socket exists', async () => {
    await expect(connect('tcp://127.0.0.1:1', { timeoutMs: 0 })).rejects.toThrow(RangeError)
    await expect(connect('tcp://127.0.0.1:1', { timeoutMs: 1.5 })).rejects.toThrow(TypeError)
    await expect(connect('tcp://127.0.0.1:0')).rejects.toMatchObject({ code: 'ERR_ADDRESS_INVALID' })
    await expect(listen('tcp://127.0.0.1:0', echo, { backlog: 0 })).rejects.toThrow(RangeError)
    // Misspelt options are errors, not defaults: { timeout } would have meant 10 s, { allowHalfopen }
    // a relay that drops half-closes.
    await expect(connect('tcp://127.0.0.1:1', { timeout: 500 } as never)).rejects.toThrow(/connect: unknown option "timeout"/)
    await expect(connect('tcp://127.0.0.1:1', { allowHalfOpen: 'yes' } as never)).rejects.toThrow(/allowHalfOpen must be a boolean/)
    await expect(connect('tcp://127.0.0.1:1', null as never)).rejects.toThrow(/options must be an object/)
    await expect(listen('tcp://127.0.0.1:0', echo, { allowHalfopen: true } as never)).rejects.toThrow(/listen: unknown option "allowHalfopen"/)
    await expect(listen('tcp://127.0.0.1:0', echo, { replaceStaleSocket: 1 } as never)).rejects.toThrow(/replaceStaleSocket must be a boolean/)
    const l = await listen('tcp://127.0.0.1:0', echo)
    await expect(l.close({ grace: 5 } as never)).rejects.toThrow(/Listener.close: unknown option "grace"/)
    await l.close()
  })

  it('replaceStaleSocket removes a dead socket file, never a live one or a plain file', async () => {
    const { spawnSync } = await import('node:child_process')
    const { writeFileSync } = await import('node:fs')
    const stale = join(dir, 'stale.sock')
    // A process that binds and exits without unlinking leaves a stale socket file behind.
    const r = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.exit(0))`])
    expect(r.status).toBe(0)
    expect(existsSync(stale)).toBe(true)
    await expect(listen(`unix:${stale}`, echo)).rejects.toMatchObject({ code: 'EADDRINUSE' })
    const l = await listen(`unix:${stale}`, echo, { replaceStaleSocket: true })
    // A live listener is never replaced.
    await expect(listen(`unix:${stale}`, echo, { replaceStaleSocket: true })).rejects.toMatchObject({ code: 'EADDRINUSE' })
    const s = await connect(`unix:${stale}`)
    s.end('alive')
    expect((await readAll(s)).toString()).toBe('alive')
    await l.close()
    const plain = join(dir, 'plain')
    writeFileSync(plain, 'keep me')
    await expect(listen(`unix:${plain}`, echo, { replaceStaleSocket: true })).rejects.toMatchObject({ code: 'EADDRINUSE' })
    expect(existsSync(plain)).toBe(true)
  })

  it('10,000 connect/close cycles through the public unix path leave the fd count unchanged', async () => {
    const { readdirSync } = await import('node:fs')
    const path = join(dir, 'cycles.sock')
    const l = await listen(`unix:${path}`, (s) => {
      s.on('error', () => {})
      s.end()
    })
    const count = (): number => readdirSync('/proc/self/fd').length
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
    const before = count()
    for (let i = 0; i < 10_000; i++) {
      const s = await connect(`unix:${path}`)
      await new Promise<void>((resolve) => {
        s.on('error', () => {})
        s.once('close', () => resolve())
        if (i % 2 === 0) s.destroy()
        else s.resume().end()
      })
    }
    while (l.connections > 0) await new Promise((r) => setImmediate(r))
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
    expect(count()).toBe(before)
    await l.close()
  })

  it('a throwing or rejecting handler destroys its connection and reports to onError', async () => {
    const errors: string[] = []
    let n = 0
    const l = await listen(
      'tcp://127.0.0.1:0',
      async (s) => {
        s.on('error', () => {})
        if (n++ % 2 === 0) throw new Error('sync-ish throw before any await')
        await new Promise((r) => setImmediate(r))
        throw new Error('after an await')
      },
      { onError: (e) => errors.push(e.message) },
    )
    for (let i = 0; i < 2; i++) {
      const s = await connect(l.address)
      s.on('error', () => {})
      await new Promise((r) => s.once('close', r))
    }
    expect(errors.sort()).toEqual(['after an await', 'sync-ish throw before any await'])
    await l.close()
    await expect(l.close({ graceMs: -1 })).resolves.toBeUndefined() // the same promise once closing
  })
})
