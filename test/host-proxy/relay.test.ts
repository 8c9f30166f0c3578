// Relay behaviour end to end: unix listener -> host-proxy -> loopback TCP server.
import { afterEach, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { createHash, randomBytes } from 'node:crypto'
import type * as net from 'node:net'
import { parseConfig } from '../../host-proxy/config.js'
import { HostProxy } from '../../host-proxy/server.js'
import { captureLogger, closed, closeLines, connectUnix, echoServer, readAll, tcpServer, tempDir, until, type TcpServer } from './helpers.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

interface Setup {
  proxy: HostProxy
  sock: string
  log: ReturnType<typeof captureLogger>
}

/** One route from a unix socket to 127.0.0.1:port, extra YAML appended to the route. */
async function setup(port: number, routeExtra = '', top = ''): Promise<Setup> {
  const t = tempDir()
  cleanups.push(t.cleanup)
  const sock = `${t.dir}/r.sock`
  const config = parseConfig(`
allowlist:
  - {address: 127.0.0.1, port: ${port}}
routes:
  - name: test
    listen: unix:${sock}
    target: {address: 127.0.0.1, port: ${port}}
${routeExtra.split('\n').map((l) => `    ${l}`).join('\n')}
${top}
`)
  const log = captureLogger()
  const proxy = await HostProxy.start(config, { logger: log.logger })
  cleanups.push(() => proxy.shutdown())
  return { proxy, sock, log }
}

async function server(s: Promise<TcpServer>): Promise<TcpServer> {
  const srv = await s
  cleanups.push(srv.close)
  return srv
}

/** Writes `chunks` one by one, yielding between them so they leave as separate segments. */
async function writeChunks(s: net.Socket, chunks: Buffer[]): Promise<void> {
  for (const c of chunks) {
    if (!s.write(c)) await new Promise((r) => s.once('drain', r))
    await new Promise((r) => setImmediate(r))
  }
}

function split(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b)
  const out: Buffer[] = []
  let prev = 0
  for (const p of [...points, data.length]) {
    if (p > prev) out.push(data.subarray(prev, p))
    prev = p
  }
  return out
}

describe('host-proxy relay', () => {
  it('relays bytes exactly, both ways at once, for random payloads and random split points', async () => {
    // Upstream: records what it gets, and sends its own payload split the same random way.
    let plan: { up: Buffer; downChunks: Buffer[] } = { up: Buffer.alloc(0), downChunks: [] }
    const received: Promise<Buffer>[] = []
    const srv = await server(tcpServer((s) => {
      received.push(readAll(s))
      const chunks = plan.downChunks
      void writeChunks(s, chunks).then(() => s.end())
    }))
    const { sock, log } = await setup(srv.port)
    await fc.assert(fc.asyncProperty(
      fc.uint8Array({ maxLength: 200_000 }), fc.array(fc.nat(), { maxLength: 12 }),
      fc.uint8Array({ maxLength: 200_000 }), fc.array(fc.nat(), { maxLength: 12 }),
      async (up, upCuts, down, downCuts) => {
        const upBuf = Buffer.from(up)
        const downBuf = Buffer.from(down)
        plan = { up: upBuf, downChunks: split(downBuf, downCuts) }
        received.length = 0
        const c = await connectUnix(sock)
        const got = readAll(c)
        await writeChunks(c, split(upBuf, upCuts))
        c.end()
        expect((await got).equals(downBuf)).toBe(true)
        await until(() => received.length === 1)
        expect((await received[0]).equals(upBuf)).toBe(true)
      }), { numRuns: 25 })
    await until(() => closeLines(log.lines).length === 25)
    for (const l of closeLines(log.lines)) expect(l.reason).toBe('done')
  })

  it('propagates a half-close: the client ends, the upstream still answers, then ends', async () => {
    const srv = await server(tcpServer((s) => {
      const chunks: Buffer[] = []
      s.on('data', (c: Buffer) => chunks.push(c))
      // Only after the client's FIN does the upstream answer: that needs our write side open.
      s.on('end', () => {
        s.write('got:')
        s.end(Buffer.concat(chunks))
      })
    }))
    const { sock, log } = await setup(srv.port)
    const c = await connectUnix(sock)
    const got = readAll(c)
    c.end('hello, half-open world')
    expect((await got).toString()).toBe('got:hello, half-open world')
    const line = await log.waitFor((l) => l.msg === 'connection closed')
    expect(line).toMatchObject({ route: 'test', reason: 'done', bytes_in: 22, bytes_out: 26, target: `127.0.0.1:${srv.port}` })
    expect(typeof line.duration_ms).toBe('number')
  })

  it('delivers a large random stream intact to a client that reads slowly (read buffer reuse under backpressure)', async () => {
    const payload = randomBytes(16 * 1024 * 1024)
    const srv = await server(tcpServer((s) => s.end(payload)))
    const { sock } = await setup(srv.port)
    const c = await connectUnix(sock)
    const hash = createHash('sha256')
    let got = 0
    // Stop and go: the relay's writes to the client go asynchronous again and again.
    c.on('data', (chunk: Buffer) => {
      hash.update(chunk)
      got += chunk.length
      c.pause()
      setTimeout(() => c.resume(), got % 7 === 0 ? 5 : 0)
    })
    await new Promise((r) => c.once('end', r))
    expect(got).toBe(payload.length)
    expect(hash.digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'))
    c.end()
  })

  it('relays 1,000 concurrent connections, each its own bytes', async () => {
    const srv = await server(echoServer())
    const { sock, proxy } = await setup(srv.port, 'max_connections: 2000')
    const n = 1000
    // Connect in batches: a burst of 1,000 unix connects overflows the listen backlog (EAGAIN).
    const sockets: net.Socket[] = []
    while (sockets.length < n) sockets.push(...(await Promise.all(Array.from({ length: 100 }, () => connectUnix(sock)))))
    await until(() => proxy.activeConnections === n)
    const payloads = sockets.map((_, i) => Buffer.concat([Buffer.from(`conn ${i}:`), randomBytes(1 + (i % 97) * 13)]))
    const results = await Promise.all(sockets.map((s, i) => {
      const got = readAll(s)
      s.end(payloads[i])
      return got
    }))
    results.forEach((r, i) => expect(r.equals(payloads[i])).toBe(true))
    await until(() => proxy.activeConnections === 0)
  })

  it('refuses connections beyond max_connections without touching the live ones', async () => {
    const srv = await server(echoServer())
    const { sock, proxy, log } = await setup(srv.port, 'max_connections: 2')
    const a = await connectUnix(sock)
    const b = await connectUnix(sock)
    await until(() => proxy.activeConnections === 2)
    const c = await connectUnix(sock)
    await closed(c)
    expect(log.lines.find((l) => l.msg === 'connection refused')).toMatchObject({ route: 'test', reason: 'max_connections' })
    expect(proxy.metrics.render()).toContain('nitro_recipient_proxy_denials_total{route="test",reason="max_connections"} 1')
    // The two live connections still relay.
    for (const s of [a, b]) {
      const got = readAll(s)
      s.end('still here')
      expect((await got).toString()).toBe('still here')
    }
  })

  it('closes a client that connects and sends nothing (slowloris) after the idle timeout', async () => {
    const srv = await server(tcpServer(() => {}))
    const { sock, log } = await setup(srv.port, 'idle_timeout_ms: 150')
    const c = await connectUnix(sock)
    await closed(c)
    expect(await log.waitFor((l) => l.msg === 'connection closed')).toMatchObject({ reason: 'idle_timeout', bytes_in: 0, bytes_out: 0 })
  })

  it('bounds memory for a client that never reads, then closes it on the idle timeout', async () => {
    const total = 64 * 1024 * 1024
    let accepted = 0
    const srv = await server(tcpServer((s) => {
      // Write until the relay pushes back; count what the kernel and the relay accepted.
      const block = Buffer.alloc(64 * 1024, 7)
      const pump = (): void => {
        while (accepted < total) {
          accepted += block.length
          if (!s.write(block)) {
            s.once('drain', pump)
            return
          }
        }
      }
      pump()
    }))
    const { sock, log, proxy } = await setup(srv.port, 'idle_timeout_ms: 300')
    const c = await connectUnix(sock)
    c.pause() // never reads
    // Meanwhile another connection through the same proxy works normally.
    const echo = await server(echoServer())
    await proxy.reload(parseConfig(`
allowlist: [{address: 127.0.0.1, port: ${srv.port}}, {address: 127.0.0.1, port: ${echo.port}}]
routes:
  - {name: test, listen: "unix:${sock}", target: {address: 127.0.0.1, port: ${srv.port}}, idle_timeout_ms: 300}
  - {name: echo, listen: "unix:${sock}2", target: {address: 127.0.0.1, port: ${echo.port}}}
`))
    const e = await connectUnix(`${sock}2`)
    const got = readAll(e)
    e.end('unaffected')
    expect((await got).toString()).toBe('unaffected')
    const line = await log.waitFor((l) => l.msg === 'connection closed' && l.route === 'test')
    expect(line.reason).toBe('idle_timeout')
    // Backpressure held: nowhere near the 64 MiB the upstream wanted to send got accepted.
    expect(accepted).toBeLessThan(total / 2)
    expect(line.bytes_out as number).toBeLessThan(total / 2)
    c.destroy()
  })

  it('closes the client with connect_failed when the upstream refuses, and keeps serving', async () => {
    const srv = await server(echoServer())
    const port = srv.port
    await srv.close() // nothing listens there any more: ECONNREFUSED
    const { sock, log, proxy } = await setup(port)
    const c = await connectUnix(sock)
    await closed(c)
    const line = await log.waitFor((l) => l.msg === 'connection closed')
    expect(line).toMatchObject({ reason: 'connect_failed', error: 'ERR_PROXY_CONNECT_FAILED' })
    expect(proxy.metrics.render()).toContain('nitro_recipient_proxy_errors_total{route="test",reason="connect_failed"} 1')
    expect(proxy.activeConnections).toBe(0)
  })
})
