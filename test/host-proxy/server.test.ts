// HostProxy as a service: connect timeout, DNS policy and re-resolution, reload, shutdown, metrics.
import { afterEach, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import * as net from 'node:net'
import { request } from 'node:http'
import { parseConfig } from '../../host-proxy/config.js'
import { HostProxy } from '../../host-proxy/server.js'
import type { LookupFn } from '../../host-proxy/resolver.js'
import { captureLogger, closed, closeLines, connectUnix, echoServer, readAll, tcpServer, tempDir, until, type TcpServer } from './helpers.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

function dir(): string {
  const t = tempDir()
  cleanups.push(t.cleanup)
  return t.dir
}

async function server(s: Promise<TcpServer>): Promise<TcpServer> {
  const srv = await s
  cleanups.push(srv.close)
  return srv
}

async function start(yaml: string, lookup?: LookupFn): Promise<{ proxy: HostProxy; log: ReturnType<typeof captureLogger> }> {
  const log = captureLogger()
  const proxy = await HostProxy.start(parseConfig(yaml), { logger: log.logger, lookup })
  cleanups.push(() => proxy.shutdown())
  return { proxy, log }
}

async function roundTrip(path: string, text: string): Promise<string> {
  const c = await connectUnix(path)
  const got = readAll(c)
  c.end(text)
  return (await got).toString()
}

/**
 * A loopback TCP listener that never accepts, with its one-slot accept queue filled, so that
 * further SYNs are dropped and a connect hangs until the caller's timeout (Linux drops SYNs
 * when the accept queue is full). Python, because node always accepts.
 */
async function blackHole(): Promise<{ port: number; close: () => void }> {
  const py = spawn('python3', ['-c', [
    'import socket, sys',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'sys.stdin.read()',
  ].join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve) => py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))))
  const fillers: net.Socket[] = []
  // Fill the queue: keep connecting until one attempt does not complete promptly.
  for (;;) {
    const s = net.connect({ host: '127.0.0.1', port })
    s.on('error', () => {})
    fillers.push(s)
    const ok = await new Promise<boolean>((resolve) => {
      s.once('connect', () => resolve(true))
      // Generous: on a loaded machine a queued connect can take a while; a dropped SYN never completes.
      setTimeout(() => resolve(false), 1000)
    })
    if (!ok) break
  }
  return { port, close: () => { for (const s of fillers) s.destroy(); py.stdin.end(); py.kill() } }
}

describe('host-proxy service', () => {
  it('closes the client with connect_timeout when the upstream never answers the SYN', async () => {
    const hole = await blackHole()
    cleanups.push(hole.close)
    const d = dir()
    const { proxy, log } = await start(`
allowlist: [{address: 127.0.0.1, port: ${hole.port}}]
routes: [{name: slow, listen: "unix:${d}/s.sock", target: {address: 127.0.0.1, port: ${hole.port}}, connect_timeout_ms: 200}]
`)
    const c = await connectUnix(`${d}/s.sock`)
    await closed(c)
    expect(await log.waitFor((l) => l.msg === 'connection closed')).toMatchObject({ reason: 'connect_timeout', error: 'ERR_PROXY_CONNECT_TIMEOUT' })
    expect(proxy.metrics.render()).toContain('nitro_recipient_proxy_errors_total{route="slow",reason="connect_timeout"} 1')
  })

  it('denies a hostname that resolves to loopback unless its entry sets allow_private', async () => {
    const srv = await server(echoServer())
    const d = dir()
    const lookup: LookupFn = async (_h, fam) => (fam === 4 ? [{ address: '127.0.0.1', ttl: 60 }] : [])
    const { proxy, log } = await start(`
allowlist:
  - {address: upstream.test, port: ${srv.port}}
  - {address: private.test, port: ${srv.port}, allow_private: true}
routes:
  - {name: denied, listen: "unix:${d}/d.sock", target: {address: upstream.test, port: ${srv.port}}}
  - {name: allowed, listen: "unix:${d}/a.sock", target: {address: private.test, port: ${srv.port}}}
`, lookup)
    const c = await connectUnix(`${d}/d.sock`)
    await closed(c)
    expect(await log.waitFor((l) => l.msg === 'connection closed' && l.route === 'denied'))
      .toMatchObject({ reason: 'address_forbidden', error: 'ERR_PROXY_ADDRESS_FORBIDDEN', bytes_in: 0, bytes_out: 0 })
    expect(proxy.metrics.render()).toContain('nitro_recipient_proxy_denials_total{route="denied",reason="address_forbidden"} 1')
    expect(srv.sockets.size).toBe(0)
    // The same address through an entry that opts in is relayed.
    expect(await roundTrip(`${d}/a.sock`, 'ok')).toBe('ok')
  })

  it('closes with resolve_failed for an unresolvable host and keeps serving other routes', async () => {
    const srv = await server(echoServer())
    const d = dir()
    const lookup: LookupFn = async (h) => {
      if (h === 'nxdomain.test') throw Object.assign(new Error('queryA ENOTFOUND'), { code: 'ENOTFOUND' })
      return [{ address: '127.0.0.1', ttl: 60 }]
    }
    const { log } = await start(`
allowlist: [{address: nxdomain.test, port: 443}, {address: 127.0.0.1, port: ${srv.port}}]
routes:
  - {name: nx, listen: "unix:${d}/nx.sock", target: {address: nxdomain.test, port: 443}}
  - {name: ok, listen: "unix:${d}/ok.sock", target: {address: 127.0.0.1, port: ${srv.port}}}
`, lookup)
    const c = await connectUnix(`${d}/nx.sock`)
    await closed(c)
    expect(await log.waitFor((l) => l.msg === 'connection closed' && l.route === 'nx')).toMatchObject({ reason: 'resolve_failed', error: 'ERR_PROXY_RESOLVE_FAILED' })
    expect(await roundTrip(`${d}/ok.sock`, 'fine')).toBe('fine')
  })

  it('counts DNS time against the connect timeout (a hung resolver does not hold the client)', async () => {
    const d = dir()
    const lookup: LookupFn = () => new Promise(() => {}) // never answers
    const { log } = await start(`
allowlist: [{address: hung-dns.test, port: 443}]
routes: [{name: hung, listen: "unix:${d}/h.sock", target: {address: hung-dns.test, port: 443}, connect_timeout_ms: 100}]
`, lookup)
    const c = await connectUnix(`${d}/h.sock`)
    await closed(c)
    expect(await log.waitFor((l) => l.msg === 'connection closed')).toMatchObject({ reason: 'connect_timeout', error: 'ERR_PROXY_CONNECT_TIMEOUT' })
  })

  it('re-resolves a hostname when its TTL runs out and follows the new address', async () => {
    const a = await server(tcpServer((s) => s.end('A'), '127.0.0.1'))
    // Same port on another loopback address; retry with a new port if it is taken there.
    let b: TcpServer | undefined
    let first = a
    while (b === undefined) {
      try {
        b = await server(tcpServer((s) => s.end('B'), '127.0.0.2', first.port))
      } catch {
        first = await server(tcpServer((s) => s.end('A'), '127.0.0.1'))
      }
    }
    const port = first.port
    let answer = '127.0.0.1'
    let queries = 0
    const lookup: LookupFn = async (_h, fam) => {
      if (fam !== 4) return []
      queries++
      return [{ address: answer, ttl: 0 }]
    }
    const d = dir()
    await start(`
allowlist: [{address: rotating.test, port: ${port}, allow_private: true}]
dns: {min_ttl_s: 0}
routes: [{name: r, listen: "unix:${d}/r.sock", target: {address: rotating.test, port: ${port}}}]
`, lookup)
    expect(await roundTrip(`${d}/r.sock`, '')).toBe('A')
    answer = '127.0.0.2'
    expect(await roundTrip(`${d}/r.sock`, '')).toBe('B')
    expect(queries).toBe(2)
  })

  it('reloads without dropping live connections; removed routes stop accepting, new ones start', async () => {
    const e1 = await server(echoServer())
    const e2 = await server(echoServer())
    const d = dir()
    const { proxy } = await start(`
allowlist: [{address: 127.0.0.1, port: ${e1.port}}]
routes: [{name: one, listen: "unix:${d}/1.sock", target: {address: 127.0.0.1, port: ${e1.port}}}]
`)
    const live = await connectUnix(`${d}/1.sock`)
    const got = readAll(live)
    live.write('before reload|')
    await until(() => e1.sockets.size === 1)
    await proxy.reload(parseConfig(`
allowlist: [{address: 127.0.0.1, port: ${e2.port}}]
routes: [{name: two, listen: "unix:${d}/2.sock", target: {address: 127.0.0.1, port: ${e2.port}}}]
`))
    expect([...proxy.routeAddresses.keys()]).toEqual(['two'])
    // The old route no longer accepts...
    await expect(connectUnix(`${d}/1.sock`)).rejects.toMatchObject({ code: expect.stringMatching(/ENOENT|ECONNREFUSED/) })
    // ...the new one does...
    expect(await roundTrip(`${d}/2.sock`, 'new route')).toBe('new route')
    // ...and the live connection on the old route carries on to its natural end.
    live.end('after reload')
    expect((await got).toString()).toBe('before reload|after reload')
  })

  it('reopens the HTTP endpoints on the next reload after one that could not bind them', async () => {
    const yaml = (cred: string, metrics: string): string => `
credentials: {listen: "${cred}", source: static, static: {access_key_id: AKIAIOSFODNN7EXAMPLE, secret_access_key: s3cr3t}}
metrics: {listen: "${metrics}"}
`
    const d = dir()
    const { proxy } = await start(yaml(`unix:${d}/c.sock`, `unix:${d}/m.sock`))
    // Ports taken by someone else: the reload that moves both endpoints there fails...
    const s1 = await tcpServer(() => {})
    const s2 = await tcpServer(() => {})
    const moved = parseConfig(yaml(`tcp://127.0.0.1:${s1.port}`, `tcp://127.0.0.1:${s2.port}`))
    await expect(proxy.reload(moved)).rejects.toMatchObject({ code: 'EADDRINUSE' })
    expect(proxy.credentialsAddress).toBeNull()
    expect(proxy.metricsAddress).toBeNull()
    // ...and once the ports are free, the same config reloaded again brings both back (the
    // closed endpoints were kept under their unchanged keys and taken for running).
    await s1.close()
    await s2.close()
    await proxy.reload(moved)
    expect(proxy.credentialsAddress).toEqual({ kind: 'tcp', host: '127.0.0.1', port: s1.port })
    expect(proxy.metricsAddress).toEqual({ kind: 'tcp', host: '127.0.0.1', port: s2.port })
    for (const [port, path] of [[s1.port, '/credentials'], [s2.port, '/metrics']] as const) {
      const status = await new Promise<number>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path }, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        }).on('error', reject).end()
      })
      expect(status).toBe(200)
    }
  })

  it('on shutdown stops accepting, drains live connections, then resolves', async () => {
    const srv = await server(echoServer())
    const d = dir()
    const { proxy, log } = await start(`
allowlist: [{address: 127.0.0.1, port: ${srv.port}}]
routes: [{name: r, listen: "unix:${d}/r.sock", target: {address: 127.0.0.1, port: ${srv.port}}}]
`)
    const live = await connectUnix(`${d}/r.sock`)
    const got = readAll(live)
    await until(() => srv.sockets.size === 1)
    let stopped = false
    const stopping = proxy.shutdown().then(() => (stopped = true))
    await expect(connectUnix(`${d}/r.sock`)).rejects.toMatchObject({ code: expect.stringMatching(/ENOENT|ECONNREFUSED/) })
    live.write('still relayed during drain')
    await new Promise((r) => setTimeout(r, 50))
    expect(stopped).toBe(false)
    live.end()
    expect((await got).toString()).toBe('still relayed during drain')
    await stopping
    const order = log.lines.map((l) => l.msg)
    expect(order.indexOf('connection closed')).toBeLessThan(order.indexOf('stopped'))
    expect(closeLines(log.lines)[0].reason).toBe('done')
  })

  it('on shutdown closes connections still open after shutdown_timeout_ms', async () => {
    const srv = await server(echoServer())
    const d = dir()
    const { proxy, log } = await start(`
shutdown_timeout_ms: 100
allowlist: [{address: 127.0.0.1, port: ${srv.port}}]
routes: [{name: r, listen: "unix:${d}/r.sock", target: {address: 127.0.0.1, port: ${srv.port}}}]
`)
    const live = await connectUnix(`${d}/r.sock`)
    await until(() => proxy.activeConnections === 1 && srv.sockets.size === 1)
    await proxy.shutdown()
    await closed(live)
    expect(closeLines(log.lines)[0].reason).toBe('shutdown')
  })

  it('serves Prometheus metrics per route on its own address', async () => {
    const srv = await server(echoServer())
    const d = dir()
    const { proxy } = await start(`
allowlist: [{address: 127.0.0.1, port: ${srv.port}}]
routes: [{name: kms, listen: "unix:${d}/r.sock", target: {address: 127.0.0.1, port: ${srv.port}}}]
metrics: {listen: "tcp://127.0.0.1:0"}
`)
    expect(await roundTrip(`${d}/r.sock`, 'x'.repeat(1000))).toBe('x'.repeat(1000))
    await until(() => proxy.activeConnections === 0)
    const port = (proxy.metricsAddress as { port: number }).port
    const body = await new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text: Buffer.concat(chunks).toString() }))
      }).on('error', reject).end()
    })
    expect(body.status).toBe(200)
    expect(body.type).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(body.text).toContain('nitro_recipient_proxy_connections_total{route="kms"} 1')
    expect(body.text).toContain('nitro_recipient_proxy_bytes_total{route="kms",direction="in"} 1000')
    expect(body.text).toContain('nitro_recipient_proxy_bytes_total{route="kms",direction="out"} 1000')
    expect(body.text).toContain('nitro_recipient_proxy_connections_closed_total{route="kms",reason="done"} 1')
    expect(body.text).toContain('# TYPE nitro_recipient_proxy_denials_total counter')
  })
})
