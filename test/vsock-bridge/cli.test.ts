import { mkdtempSync, rmSync } from 'node:fs'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { silentLogger } from '../../common/log.js'
import { connect, listen, localCid, parseAddress, relay } from '../../vsock-bridge/index.js'
import { main, pipe } from '../../vsock-bridge/main.js'
import { captureIo } from '../helpers/io.js'
import { readAll } from './util.js'

const dir = mkdtempSync(join(tmpdir(), 'vsock-bridge-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('nitro-recipient vsock', () => {
  it('--help lists the commands', async () => {
    const c = captureIo()
    expect(await main(['--help'], c.io)).toBe(0)
    for (const cmd of ['info', 'local-cid', 'probe', 'connect', 'pipe']) expect(c.stdout()).toContain(cmd)
    const bare = captureIo()
    expect(await main([], bare.io)).toBe(2)
  })

  it('local-cid prints the ioctl value', async () => {
    const c = captureIo()
    expect(await main(['local-cid'], c.io)).toBe(0)
    expect(c.stdout()).toBe(`${localCid()}\n`)
    const j = captureIo()
    expect(await main(['local-cid', '--json'], j.io)).toBe(0)
    expect(JSON.parse(j.stdout())).toEqual({ ok: true, local_cid: localCid() })
  })

  it('info reports the addon and the CID', async () => {
    const c = captureIo()
    expect(await main(['info', '--json'], c.io)).toBe(0)
    expect(JSON.parse(c.stdout())).toEqual({ ok: true, addon: true, local_cid: localCid() })
  })

  it('probe: success with endpoints, failure with the errno code', async () => {
    const path = join(dir, 'probe.sock')
    const l = await listen(`unix:${path}`, (s) => s.destroy())
    const c = captureIo()
    expect(await main(['probe', `unix:${path}`, '--json'], c.io)).toBe(0)
    const r = JSON.parse(c.stdout()) as Record<string, unknown>
    expect(r).toMatchObject({ ok: true, address: `unix:${path}`, remote: `unix:${path}` })
    expect(typeof r.connect_ms).toBe('number')
    await l.close()

    const f = captureIo()
    expect(await main(['probe', `vsock://${localCid()}:9`, '--json'], f.io)).toBe(1)
    expect(JSON.parse(f.stdout())).toMatchObject({ ok: false, error: { code: 'ENODEV' } })
    expect(f.stderr()).toMatch(/error ENODEV/)
  })

  it('usage errors exit 2', async () => {
    for (const argv of [['probe'], ['probe', 'tcp://h:1', 'extra'], ['frobnicate'], ['probe', 'tcp://h:1', '--timeout', '0'], ['probe', 'tcp://h:1', '--bogus']]) {
      const c = captureIo()
      expect(await main(argv, c.io)).toBe(2)
    }
    const bad = captureIo()
    expect(await main(['probe', 'tcp://h:70000'], bad.io)).toBe(1)
    expect(bad.stderr()).toMatch(/ERR_ADDRESS_INVALID/)
  })

  it('connect copies stdin to the stream and the stream to stdout', async () => {
    const path = join(dir, 'stdio.sock')
    const l = await listen(`unix:${path}`, (s) => {
      void readAll(s).then((got) => s.end(got.toString().toUpperCase()))
    }, { allowHalfOpen: true })
    const c = captureIo('hello stdio')
    expect(await main(['connect', `unix:${path}`], c.io)).toBe(0)
    expect(c.stdout()).toBe('HELLO STDIO')
    await l.close()
  })

  it('connect ends after the peer hung up, although stdin stays open (as socat)', async () => {
    const path = join(dir, 'hangup.sock')
    const l = await listen(`unix:${path}`, (s) => void s.end('bye'), { allowHalfOpen: true })
    const c = captureIo()
    const stdin = new PassThrough() // never ends: an interactive terminal
    const done = main(['connect', `unix:${path}`], { ...c.io, stdin })
    const first = await Promise.race([done, new Promise((r) => setTimeout(() => r('still running'), 10_000))])
    expect(first).toBe(0)
    expect(c.stdout()).toBe('bye')
    stdin.destroy()
    await l.close()
  })
})

describe('pipe and relay', () => {
  it('relays both directions with half-close through vsock-style listeners', async () => {
    const upstreamPath = join(dir, 'up.sock')
    const upstream = await listen(`unix:${upstreamPath}`, (s) => {
      void readAll(s).then((got) => s.end(Buffer.concat([Buffer.from('echo:'), got])))
    }, { allowHalfOpen: true })
    const p = await pipe(parseAddress('tcp://127.0.0.1:0', { allowPortZero: true }), parseAddress(`unix:${upstreamPath}`), {
      timeoutMs: 5000,
      once: true,
      log: silentLogger,
    })
    const s = await connect(p.listener.address, { allowHalfOpen: true })
    const reply = readAll(s)
    s.end('through the pipe')
    expect((await reply).toString()).toBe('echo:through the pipe')
    await p.done
    await upstream.close()
  })

  it('a reset on one side destroys the other and reports the error', async () => {
    // near client -> [nearServer <relay> far client] -> farServer; farServer is reset.
    let farServer: Socket | undefined
    const farListener = await listen('tcp://127.0.0.1:0', (s) => {
      farServer = s.on('error', () => {})
    })
    let nearServer: Socket | undefined
    const nearListener = await listen('tcp://127.0.0.1:0', (s) => {
      nearServer = s
    })
    const near = await connect(nearListener.address)
    near.on('error', () => {})
    const farClient = await connect(farListener.address)
    while (nearServer === undefined || farServer === undefined) await new Promise((r) => setImmediate(r))
    const nearClosed = new Promise((r) => near.once('close', r))
    const result = relay(nearServer, farClient)
    farServer.resetAndDestroy()
    const stats = await result
    expect(nearServer.destroyed).toBe(true)
    expect(farClient.destroyed).toBe(true)
    expect((stats.error as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNRESET')
    await nearClosed // the reset propagated to the far end of the relay
    await nearListener.close()
    await farListener.close()
  })
})
