// Stream semantics of the vsock code path (addon socket/bind/connect + libuv Pipe handle +
// net.Socket), run on unix sockets because this machine has no vsock loopback. Only the address
// family differs from a vsock connection.
import fc from 'fast-check'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { endpoints } from '../../vsock-bridge/index.js'
import { FAMILY_INET, requireBinding } from '../../vsock-bridge/native.js'
import { connectNative } from '../../vsock-bridge/vsock.js'
import { bytesUpTo, cutsUpTo, fdCount, nativeUnix, readAll, settle, writeSplit } from './util.js'

const dir = mkdtempSync(join(tmpdir(), 'vsock-bridge-stream-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const fresh = (): ReturnType<typeof nativeUnix> & { path: string } => {
  const path = join(dir, `s${n++}.sock`)
  return { path, ...nativeUnix(path) }
}

/** Resolves with the number of 'close' events seen once things settle. */
function countCloses(s: Socket): () => number {
  let closes = 0
  s.on('close', () => closes++)
  return () => closes
}

describe('stream semantics on the native path', () => {
  it('round-trips data and records endpoints', async () => {
    const u = fresh()
    const l = await u.listen((s) => {
      expect(endpoints(s).local).toEqual({ kind: 'unix', path: u.path, abstract: false })
      s.pipe(s)
    })
    expect(l.address).toEqual({ kind: 'unix', path: u.path, abstract: false })
    const s = await u.connect()
    expect(endpoints(s).remote).toEqual({ kind: 'unix', path: u.path, abstract: false })
    s.end(Buffer.from('over the vsock code path'))
    expect((await readAll(s)).toString()).toBe('over the vsock code path')
    await l.close()
  })

  it('abstract unix names go through the addon too', async () => {
    const name = `nitro-recipient-native-${process.pid}-${n++}`
    const u = nativeUnix(`\0${name}`)
    const l = await u.listen((s) => s.pipe(s))
    expect(l.address).toEqual({ kind: 'unix', path: name, abstract: true })
    const s = await u.connect()
    expect(endpoints(s).remote).toEqual({ kind: 'unix', path: name, abstract: true })
    s.end('abstract')
    expect((await readAll(s)).toString()).toBe('abstract')
    await l.close()
    await expect(u.connect()).rejects.toMatchObject({ code: 'ECONNREFUSED' })
  })

  it('half-close: the server still writes after the client ends (allowHalfOpen)', async () => {
    const u = fresh()
    const l = await u.listen(
      (s) => {
        void readAll(s).then((got) => s.end(Buffer.concat([Buffer.from('got:'), got])))
      },
      { allowHalfOpen: true },
    )
    const s = await u.connect({ allowHalfOpen: true })
    const reply = readAll(s)
    s.end('question')
    expect((await reply).toString()).toBe('got:question')
    await l.close()
  })

  it('half-close the other way: the server ends first, the client keeps writing', async () => {
    const u = fresh()
    let received: Promise<Buffer> = Promise.resolve(Buffer.alloc(0))
    const l = await u.listen(
      (s) => {
        received = readAll(s)
        s.end('greeting then goodbye')
      },
      { allowHalfOpen: true },
    )
    const s = await u.connect({ allowHalfOpen: true })
    expect((await readAll(s)).toString()).toBe('greeting then goodbye')
    expect(s.writable).toBe(true)
    s.end(Buffer.alloc(300_000, 1))
    expect((await received).length).toBe(300_000)
    await l.close()
  })

  it('without allowHalfOpen the accepted side ends itself when the client ends', async () => {
    const u = fresh()
    let serverEnded: Promise<void> = Promise.resolve()
    const l = await u.listen((s) => {
      serverEnded = new Promise((r) => s.once('finish', () => r()))
      s.resume()
    })
    const s = await u.connect()
    const done = readAll(s)
    s.end()
    expect((await done).length).toBe(0)
    await serverEnded
    await l.close()
  })

  it('backpressure: write() returns false, drain comes, every byte arrives in order', async () => {
    const u = fresh()
    let server!: Socket
    const accepted = new Promise<void>((r) => {
      void u.listen((s) => {
        server = s
        s.pause()
        r()
      }).then((l) => (listener = l))
    })
    let listener: { close(): Promise<void> } | undefined
    while (listener === undefined) await settle(1)
    const s = await u.connect()
    await accepted
    const chunk = Buffer.alloc(64 * 1024, 7)
    let writes = 0
    while (s.write(chunk)) writes++
    expect(writes).toBeLessThan(1000) // the paused reader stopped us
    const drained = new Promise((r) => s.once('drain', r))
    const all = readAll(server)
    server.resume()
    await drained
    s.end()
    expect((await all).length).toBe((writes + 1) * chunk.length)
    await listener.close()
  })

  it("destroy() closes both ends; 'close' fires exactly once on each", async () => {
    const u = fresh()
    let serverCloses: () => number = () => 0
    const serverClosed = new Promise<void>((resolve) => {
      void u.listen((s) => {
        s.on('error', () => {})
        serverCloses = countCloses(s)
        s.once('close', () => resolve())
      }).then((l) => (listener = l))
    })
    let listener: { close(): Promise<void> } | undefined
    while (listener === undefined) await settle(1)
    const s = await u.connect()
    const clientCloses = countCloses(s)
    s.destroy()
    s.destroy()
    await serverClosed
    await settle()
    expect(clientCloses()).toBe(1)
    expect(serverCloses()).toBe(1)
    await listener.close()
  })

  it('destroy during a large write and a peer reset leave no fds behind', async () => {
    const u = fresh()
    const l = await u.listen((s) => {
      s.on('error', () => {})
      // Peer reset: the server drops the connection while the client is still writing.
      s.once('data', () => s.destroy())
    })
    await settle()
    const before = fdCount()
    for (let i = 0; i < 50; i++) {
      const s = await u.connect()
      const closes = countCloses(s)
      const errors: Error[] = []
      s.on('error', (e) => errors.push(e))
      s.write(Buffer.alloc(4 * 1024 * 1024))
      const closed = new Promise((r) => s.once('close', r))
      if (i % 2 === 0) s.destroy() // destroy during write
      await closed
      await settle(2)
      expect(closes()).toBe(1)
      for (const e of errors) expect((e as NodeJS.ErrnoException).code).toMatch(/^(EPIPE|ECONNRESET)$/)
    }
    await l.close()
    await settle()
    expect(fdCount()).toBe(before - 1) // the listening fd is gone as well
  })

  it('close() on the listener destroys open connections and waits for them', async () => {
    const u = fresh()
    const l = await u.listen((s) => s.on('error', () => {}))
    const before = fdCount()
    const clients = await Promise.all([u.connect(), u.connect(), u.connect()])
    const closed = clients.map((c) => new Promise((r) => c.once('close', r)))
    for (const c of clients) c.on('error', () => {})
    while (l.connections < 3) await settle(1)
    await l.close()
    expect(l.connections).toBe(0)
    await Promise.all(closed)
    await settle()
    expect(fdCount()).toBe(before - 1)
  })

  it('maxConnections refuses the excess', async () => {
    const u = fresh()
    const l = await u.listen((s) => s.on('error', () => {}), { maxConnections: 1 })
    const a = await u.connect()
    while (l.connections < 1) await settle(1)
    const b = await u.connect()
    b.on('error', () => {})
    await new Promise((r) => b.once('close', r))
    expect(l.connections).toBe(1)
    a.destroy()
    await l.close()
  })

  it('connect errors carry errno codes and release the fd', async () => {
    await settle()
    const before = fdCount()
    await expect(nativeUnix(join(dir, 'nobody-here.sock')).connect()).rejects.toMatchObject({ code: 'ENOENT', syscall: 'connect' })
    const notSocket = join(dir, 'plain-file')
    writeFileSync(notSocket, '')
    await expect(nativeUnix(notSocket).connect()).rejects.toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect' })
    const u = fresh()
    const l = await u.listen(() => {})
    await expect(u.listen(() => {})).rejects.toMatchObject({ code: 'EADDRINUSE', syscall: 'bind' })
    await l.close()
    await expect(u.connect()).rejects.toMatchObject({ code: 'ENOENT' }) // the socket file went with the listener
    expect(fdCount()).toBe(before)
  })

  it('a pending connect times out (ETIMEDOUT) or aborts (ABORT_ERR), releasing its fd (10,000 aborts)', async () => {
    // A TCP listener that never accepts, with its backlog full, leaves further connects pending:
    // the one way to hold a connect in progress on a machine without vsock loopback.
    const b = requireBinding('test')
    const lfd = b.socket(FAMILY_INET)
    const loopback = 0x7f000001
    b.bind(lfd, FAMILY_INET, loopback, 0)
    b.listen(lfd, 0)
    const port = (b.getsockname(lfd) as [number, number])[1]
    const target = { family: FAMILY_INET, ip: loopback, port } as const
    const filled: Socket[] = []
    await settle()
    const before = fdCount()
    try {
      let timedOut: unknown
      for (let i = 0; i < 16 && timedOut === undefined; i++) {
        await connectNative(b, target, 'backlog', { timeoutMs: 300, signal: undefined, allowHalfOpen: false }).then(
          (s) => filled.push(s.on('error', () => {})),
          (e: unknown) => (timedOut = e),
        )
      }
      expect(timedOut).toMatchObject({ name: 'SocketError', code: 'ETIMEDOUT', syscall: 'connect' })
      const ac = new AbortController()
      const pending = connectNative(b, target, 'backlog', { timeoutMs: 60_000, signal: ac.signal, allowHalfOpen: false })
      setTimeout(() => ac.abort(), 50)
      await expect(pending).rejects.toMatchObject({ code: 'ABORT_ERR' })
      // The cancel path at scale: 10,000 connects in progress (each with its poll armed), aborted
      // on the next turn of the loop.
      for (let i = 0; i < 10_000; i++) {
        const cancel = new AbortController()
        const p = connectNative(b, target, 'backlog', { timeoutMs: 60_000, signal: cancel.signal, allowHalfOpen: false })
        setImmediate(() => cancel.abort())
        const e = await p.then((s) => s.destroy(), (err: unknown) => err)
        if ((e as { code?: unknown } | undefined)?.code !== 'ABORT_ERR') expect.fail(`cycle ${i}: ${String(e)}`)
      }
      for (const s of filled) s.destroy()
      await settle()
      expect(fdCount()).toBe(before)
    } finally {
      for (const s of filled) s.destroy()
      b.close(lfd)
    }
  })

  it('random write sizes and split points reproduce the byte stream both ways, with half-close', async () => {
    const u = fresh()
    // Where the server splits its answer: set per run (runs are sequential).
    let replyCuts: number[] = []
    const l = await u.listen(
      (s) => {
        // Echo with a transformation so a stale or reordered chunk cannot pass unnoticed.
        const parts: Buffer[] = []
        s.on('data', (c: Buffer) => parts.push(c))
        s.on('end', () => {
          const all = Buffer.concat(parts)
          for (let i = 0; i < all.length; i++) all[i] ^= 0x5a
          // Only after the client's half-close, and split independently of how it arrived.
          writeSplit(s, all, replyCuts)
        })
      },
      { allowHalfOpen: true },
    )
    let largest = 0
    await fc.assert(
      fc.asyncProperty(bytesUpTo(200_000), cutsUpTo(250_000, 20), cutsUpTo(250_000, 20), async (data, cuts, rcuts) => {
        largest = Math.max(largest, data.length)
        replyCuts = rcuts
        const s = await u.connect({ allowHalfOpen: true })
        const reply = readAll(s)
        writeSplit(s, data, cuts)
        const got = await reply
        expect(got.length).toBe(data.length)
        for (let i = 0; i < got.length; i++) if ((got[i] ^ 0x5a) !== data[i]) expect.fail(`byte ${i} differs`)
      }),
      { numRuns: 60 },
    )
    // The runs really went past a socket buffer (fast-check's default size would stop at 10 bytes).
    expect(largest).toBeGreaterThan(100_000)
    await l.close()
  })

  it('10,000 connect/accept/close cycles leave the fd count unchanged', async () => {
    const u = fresh()
    const l = await u.listen((s) => {
      s.on('error', () => {})
      s.end()
    })
    await settle()
    const before = fdCount()
    for (let i = 0; i < 10_000; i++) {
      const s = await u.connect()
      await new Promise<void>((resolve) => {
        s.on('error', () => {})
        s.once('close', () => resolve())
        if (i % 3 === 0) s.destroy()
        else s.resume().end()
      })
    }
    while (l.connections > 0) await settle(1)
    await settle()
    expect(fdCount()).toBe(before)
    await l.close()
  })
})
