// `nitro-recipient proxy`: --help, --check-config (the deploy example and a bad route), the
// vsock-proxy command line, and signals (SIGHUP reload, SIGTERM drain) run in-process.
import { afterEach, describe, expect, it } from 'vitest'
import { EventEmitter } from 'node:events'
import { writeFileSync } from 'node:fs'
import { main, runProxy } from '../../host-proxy/main.js'
import type { HostProxy } from '../../host-proxy/server.js'
import { captureIo } from '../helpers/io.js'
import { connectUnix, echoServer, readAll, tempDir, until, type TcpServer } from './helpers.js'

const DEPLOY = new URL('../../deploy/host-proxy.yaml', import.meta.url).pathname
const BAD = new URL('../fixtures/host-proxy/route-not-allowlisted.yaml', import.meta.url).pathname
const VSOCK_PROXY = new URL('../fixtures/host-proxy/vsock-proxy.yaml', import.meta.url).pathname

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const cap = captureIo()
  const code = await main(argv, cap.io)
  return { code, out: cap.stdout(), err: cap.stderr() }
}

async function echo(): Promise<TcpServer> {
  const s = await echoServer()
  cleanups.push(s.close)
  return s
}

async function roundTrip(path: string, text: string): Promise<string> {
  const c = await connectUnix(path)
  const got = readAll(c)
  c.end(text)
  return (await got).toString()
}

describe('nitro-recipient proxy', () => {
  it('--help describes both command lines and exits 0', async () => {
    const r = await run(['--help'])
    expect(r.code).toBe(0)
    expect(r.out).toContain('--config FILE [--check-config]')
    expect(r.out).toContain('<local_port> <remote_addr> <remote_port>')
  })

  it('--check-config accepts the deploy example (exit 0, JSON summary, no secrets)', async () => {
    const r = await run(['--config', DEPLOY, '--check-config'])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    const s = JSON.parse(r.out) as { ok: boolean; routes: { name: string; target: string }[]; credentials: { source: string } }
    expect(s.ok).toBe(true)
    expect(s.routes.map((x) => `${x.name} ${x.target}`)).toEqual(['kms kms.us-east-1.amazonaws.com:443', 'kms-fips kms-fips.us-east-1.amazonaws.com:443'])
    expect(s.credentials.source).toBe('imds')
  })

  it('--check-config exits 1 naming the route and the host for a target that is not allowlisted', async () => {
    const r = await run(['--config', BAD, '--check-config'])
    expect(r.code).toBe(1)
    expect(r.out).toBe('')
    expect(r.err).toContain('ERR_PROXY_CONFIG_INVALID')
    expect(r.err).toContain(`${BAD}: routes[0].target: route exfiltrate targets attacker.example.com:443, which is not in the allowlist`)
  })

  it("takes vsock-proxy's command line and allowlist file", async () => {
    const ok = await run(['--config', VSOCK_PROXY, '--check-config', '8000', 'kms.us-east-1.amazonaws.com', '443'])
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.out).routes[0]).toMatchObject({ name: 'vsock-proxy', listen: 'vsock://any:8000', target: 'kms.us-east-1.amazonaws.com:443', ip_family: 'any' })
    const v4 = await run(['-4', '-w', '4', '--config', VSOCK_PROXY, '--check-config', '8000', 'kms.us-east-1.amazonaws.com', '443'])
    expect(JSON.parse(v4.out).routes[0].ip_family).toBe('ipv4')
    const denied = await run(['--config', VSOCK_PROXY, '--check-config', '8000', 'example.com', '443'])
    expect(denied.code).toBe(1)
    expect(denied.err).toContain(`error ERR_PROXY_NOT_ALLOWLISTED: example.com:443 is not in the allowlist of ${VSOCK_PROXY}`)
    // Out of range on the command line (vsock-proxy's parse::<u16> refuses it too; nothing is truncated).
    const wrapped = await run(['--config', VSOCK_PROXY, '--check-config', '8000', 'kms.us-east-1.amazonaws.com', '65979'])
    expect(wrapped.code).toBe(1)
    expect(wrapped.err).toBe('nitro-recipient proxy: error ERR_PROXY_PORT_RANGE: remote_port must be in 1..65535, got 65979\n')
    const local = await run(['--config', VSOCK_PROXY, '--check-config', '70000', 'kms.us-east-1.amazonaws.com', '443'])
    expect(local.err).toBe('nitro-recipient proxy: error ERR_PROXY_PORT_RANGE: local_port must be in 1..65535, got 70000\n')
    expect((await run(['-4', '-6', '--config', VSOCK_PROXY, '8000', 'kms.us-east-1.amazonaws.com', '443'])).code).toBe(2)
    expect((await run(['--config', VSOCK_PROXY, '8000', 'kms.us-east-1.amazonaws.com'])).code).toBe(2)
    expect((await run(['-w', '0', '--config', VSOCK_PROXY, '8000', 'kms.us-east-1.amazonaws.com', '443'])).code).toBe(2)
    expect((await run(['--frobnicate'])).code).toBe(2)
    // --check-config refuses a --listen the run would refuse (it printed ok: true for it).
    const badListen = await run(['--config', VSOCK_PROXY, '--listen', 'udp://x:1', '--check-config', '8000', 'kms.us-east-1.amazonaws.com', '443'])
    expect(badListen).toMatchObject({ code: 2, out: '' })
    expect(badListen.err).toContain('--listen: "udp://x:1": expected vsock://<cid>:<port>')
    expect((await run(['--log-level', 'loud', '--config', VSOCK_PROXY, '--check-config'])).code).toBe(2)
  })

  it('refuses an unknown NITRO_RECIPIENT_LOG_LEVEL as a usage error, not an internal one', async () => {
    const saved = process.env.NITRO_RECIPIENT_LOG_LEVEL
    cleanups.push(() => {
      if (saved === undefined) delete process.env.NITRO_RECIPIENT_LOG_LEVEL
      else process.env.NITRO_RECIPIENT_LOG_LEVEL = saved
    })
    process.env.NITRO_RECIPIENT_LOG_LEVEL = 'loud'
    const r = await run(['--config', VSOCK_PROXY, '8000', 'kms.us-east-1.amazonaws.com', '443'])
    expect(r.code).toBe(2)
    expect(r.err).toContain('NITRO_RECIPIENT_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent')
    // --log-level, when given, is what counts.
    expect((await run(['--log-level', 'warn', '--config', VSOCK_PROXY, '--check-config'])).code).toBe(0)
  })

  it('runs the vsock-proxy form, logs one JSON line per connection, and drains on SIGTERM', async () => {
    const srv = await echo()
    const t = tempDir()
    cleanups.push(t.cleanup)
    const allow = `${t.dir}/vsock-proxy.yaml`
    writeFileSync(allow, `allowlist:\n- {address: 127.0.0.1, port: ${srv.port}}\n`)
    const signals = new EventEmitter()
    const cap = captureIo()
    let proxy: HostProxy | undefined
    const exit = runProxy(['--config', allow, '--listen', `unix:${t.dir}/p.sock`, '8000', '127.0.0.1', String(srv.port)], cap.io, {
      signals, onStarted: (p) => (proxy = p),
    })
    await until(() => proxy !== undefined)
    expect(await roundTrip(`${t.dir}/p.sock`, 'through the vsock-proxy form')).toBe('through the vsock-proxy form')
    await until(() => cap.stderr().includes('connection closed'))
    signals.emit('SIGTERM')
    expect(await exit).toBe(0)
    const lines = cap.stderr().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.find((l) => l.msg === 'connection closed')).toMatchObject({
      name: 'host-proxy', route: 'vsock-proxy', reason: 'done', bytes_in: 28, bytes_out: 28, target: `127.0.0.1:${srv.port}`,
    })
    expect(lines.at(-1)?.msg).toBe('stopped')
    expect(signals.listenerCount('SIGHUP') + signals.listenerCount('SIGTERM') + signals.listenerCount('SIGINT')).toBe(0)
  })

  it('reloads the config file on SIGHUP, keeps it when the new one is invalid', async () => {
    const a = await echo()
    const b = await echo()
    const t = tempDir()
    cleanups.push(t.cleanup)
    const file = `${t.dir}/host-proxy.yaml`
    const cfg = (port: number, name: string): string => `
allowlist: [{address: 127.0.0.1, port: ${port}}]
routes: [{name: ${name}, listen: "unix:${t.dir}/${name}.sock", target: {address: 127.0.0.1, port: ${port}}}]
`
    writeFileSync(file, cfg(a.port, 'a'))
    const signals = new EventEmitter()
    const cap = captureIo()
    let proxy: HostProxy | undefined
    const exit = runProxy(['--config', file], cap.io, { signals, onStarted: (p) => (proxy = p) })
    await until(() => proxy !== undefined)
    const live = await connectUnix(`${t.dir}/a.sock`)
    const liveGot = readAll(live)
    live.write('kept ')
    writeFileSync(file, cfg(b.port, 'b'))
    signals.emit('SIGHUP')
    await until(() => proxy!.routeAddresses.has('b'))
    expect(await roundTrip(`${t.dir}/b.sock`, 'new')).toBe('new')
    // An invalid file on SIGHUP: logged, previous config kept.
    writeFileSync(file, 'allowlist: [{address: 127.0.0.1, port: 99999}]\n')
    signals.emit('SIGHUP')
    await until(() => cap.stderr().includes('reload failed'))
    expect(cap.stderr()).toContain('allowlist[0].port')
    expect(await roundTrip(`${t.dir}/b.sock`, 'still')).toBe('still')
    // A valid file that cannot be applied in full (route d cannot bind): said so, not "kept".
    writeFileSync(file, `
allowlist: [{address: 127.0.0.1, port: ${b.port}}]
routes:
  - {name: c, listen: "unix:${t.dir}/c.sock", target: {address: 127.0.0.1, port: ${b.port}}}
  - {name: d, listen: "unix:${t.dir}/no-such-dir/d.sock", target: {address: 127.0.0.1, port: ${b.port}}}
`)
    const before = cap.stderr().split('reload failed').length
    signals.emit('SIGHUP')
    await until(() => cap.stderr().includes('not all of it could be applied'))
    expect(cap.stderr().split('reload failed').length).toBe(before)
    expect([...proxy!.routeAddresses.keys()]).toEqual(['c'])
    expect(await roundTrip(`${t.dir}/c.sock`, 'applied')).toBe('applied')
    live.end('alive')
    expect((await liveGot).toString()).toBe('kept alive')
    signals.emit('SIGTERM')
    expect(await exit).toBe(0)
  })

  it('a SIGHUP while starting does not end the process: it is applied once the listeners are open', async () => {
    const a = await echo()
    const t = tempDir()
    cleanups.push(t.cleanup)
    const file = `${t.dir}/host-proxy.yaml`
    writeFileSync(file, `allowlist: [{address: 127.0.0.1, port: ${a.port}}]\nroutes: [{name: a, listen: "unix:${t.dir}/a.sock", target: {address: 127.0.0.1, port: ${a.port}}}]\n`)
    const signals = new EventEmitter()
    const cap = captureIo()
    let proxy: HostProxy | undefined
    const exit = runProxy(['--config', file], cap.io, { signals, onStarted: (p) => (proxy = p) })
    // before the config is even read: process.emit('SIGHUP') without a listener would kill us
    expect(signals.listenerCount('SIGHUP')).toBe(1)
    signals.emit('SIGHUP')
    await until(() => proxy !== undefined && cap.stderr().includes('configuration reloaded'))
    expect(await roundTrip(`${t.dir}/a.sock`, 'after the reload')).toBe('after the reload')
    signals.emit('SIGTERM')
    expect(await exit).toBe(0)
    expect(signals.listenerCount('SIGHUP')).toBe(0)
  })

  it('refuses to run a config with nothing to serve', async () => {
    const r = await run(['--config', VSOCK_PROXY])
    expect(r.code).toBe(1)
    expect(r.err).toContain('nothing to serve')
  })
})
