// The NSM client over its transports: an in-memory transport (protocol semantics, serialisation,
// bad responses), the NSM server over a real unix socket, and the /dev/nsm path against a file
// descriptor that is not an NSM.
import { mkdtempSync, rmSync } from 'node:fs'
import { connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { silentLogger } from '../../common/log.js'
import { verifyAttestation } from '../../attestation/index.js'
import { decodeResponse, encodeResponse } from '../../nsm/codec/response.js'
import { encodeRequest } from '../../nsm/codec/request.js'
import { NsmError } from '../../nsm/errors.js'
import { handleNsmRequest } from '../../nsm/handler.js'
import { openAttester, resolveNsmSpec } from '../../nsm/open.js'
import { ProtocolAttester, type NsmTransport } from '../../nsm/protocol-attester.js'
import { NsmSimulator } from '../../nsm/simulator/index.js'
import { encodeFrame, FrameReader } from '../../nsm/transport/framing.js'
import { serveNsm } from '../../nsm/transport/server.js'
import { DeviceTransport, loadNsmBinding } from '../../nsm/transport/device.js'
import type { Listener } from '../../vsock-bridge/index.js'

let sim: NsmSimulator
beforeAll(async () => {
  sim = await NsmSimulator.ephemeral({ logger: silentLogger })
})

/** A transport into the simulator through the real codec, counting calls. */
function loopback(target: NsmSimulator): NsmTransport & { calls: number } {
  return {
    calls: 0,
    description: 'loopback',
    async exchange(req) {
      this.calls++
      return handleNsmRequest(target, req)
    },
    async close() {},
  }
}

function fixed(res: Uint8Array): NsmTransport {
  return { description: 'fixed', exchange: async () => res, close: async () => {} }
}

describe('ProtocolAttester over the codec', () => {
  test('every operation round-trips through encoded requests and responses', async () => {
    const s = await NsmSimulator.ephemeral({ logger: silentLogger })
    const a = new ProtocolAttester(loopback(s))
    const d = await a.describeNsm()
    expect(d).toEqual(await s.describeNsm())
    expect((await a.describePcr(0)).locked).toBe(true)
    const v = await a.extendPcr(20, Buffer.from('abc'))
    expect(Buffer.from(v).equals(Buffer.from((await s.describePcr(20)).data))).toBe(true)
    await a.lockPcr(20)
    await a.lockPcrs(18)
    expect((await a.describeNsm()).lockedPcrs).toEqual([...Array(18).keys(), 20])
    expect((await a.getRandom()).length).toBe(256)
    const doc = await a.attest({ nonce: Buffer.from('n0'), userData: Buffer.from('u'), publicKey: null })
    const r = await verifyAttestation(doc, { trustAnchors: [s.rootCertificatePem], nonce: Buffer.from('n0') })
    expect([...r.pcrs.keys()]).toEqual([...Array(18).keys(), 20])
    await a.close()
    await expect(a.getRandom()).rejects.toMatchObject({ code: 'ERR_NSM_PROTOCOL' })
  })

  test("the NSM's error answers surface as the typed errors", async () => {
    const a = new ProtocolAttester(loopback(sim))
    await expect(a.describePcr(40)).rejects.toMatchObject({ code: 'ERR_NSM_INVALID_INDEX', nsmCode: 'InvalidIndex' })
    await expect(a.extendPcr(0, Uint8Array.of(1))).rejects.toMatchObject({ code: 'ERR_NSM_READ_ONLY_INDEX' })
    await expect(a.lockPcrs(33)).rejects.toMatchObject({ code: 'ERR_NSM_INVALID_INDEX' })
    await expect(a.lockPcr(2)).rejects.toMatchObject({ code: 'ERR_NSM_READ_ONLY_INDEX' })
  })

  test('oversized input is refused before the transport is touched', async () => {
    const t = loopback(sim)
    const a = new ProtocolAttester(t)
    await expect(a.extendPcr(16, Buffer.alloc(5000))).rejects.toMatchObject({ code: 'ERR_NSM_INPUT_TOO_LARGE' })
    for (const field of ['userData', 'nonce', 'publicKey'] as const) {
      await expect(a.attest({ [field]: Buffer.alloc(1025) })).rejects.toMatchObject({ code: 'ERR_NSM_INPUT_TOO_LARGE', nsmCode: 'InputTooLarge' })
    }
    expect(t.calls).toBe(0)
    // at the limit it goes through: three 1024-byte fields make a 3.1 KB request
    const doc = await a.attest({ userData: Buffer.alloc(1024, 1), nonce: Buffer.alloc(1024, 2), publicKey: Buffer.alloc(1024, 3) })
    expect(t.calls).toBe(1)
    expect(doc.length).toBeGreaterThan(3 * 1024)
  })

  test('malformed or mismatched responses are ERR_NSM_PROTOCOL', async () => {
    const lock = encodeResponse({ type: 'LockPCR' })
    await expect(new ProtocolAttester(fixed(lock)).describePcr(1)).rejects.toMatchObject({ code: 'ERR_NSM_PROTOCOL', message: /LockPCR to DescribePCR/ })
    await expect(new ProtocolAttester(fixed(Uint8Array.of(0xff))).getRandom()).rejects.toMatchObject({ code: 'ERR_NSM_PROTOCOL' })
    await expect(new ProtocolAttester(fixed(new Uint8Array(0))).getRandom()).rejects.toMatchObject({ code: 'ERR_NSM_PROTOCOL' })
    const success = encodeResponse({ type: 'Error', error: 'Success' })
    await expect(new ProtocolAttester(fixed(success)).lockPcr(16)).rejects.toMatchObject({ code: 'ERR_NSM_PROTOCOL' })
    const internal = encodeResponse({ type: 'Error', error: 'InternalError' })
    await expect(new ProtocolAttester(fixed(internal)).attest()).rejects.toMatchObject({ code: 'ERR_NSM_INTERNAL_ERROR' })
  })

  test('calls are serialised: never two exchanges in flight, answered in call order', async () => {
    let inFlight = 0
    let maxInFlight = 0
    const order: number[] = []
    const t: NsmTransport = {
      description: 'slow',
      async exchange(req) {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        // yield to the event loop a few times so overlapping calls would show
        for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r))
        const res = await handleNsmRequest(sim, req)
        inFlight--
        return res
      },
      async close() {},
    }
    const a = new ProtocolAttester(t)
    const calls: Promise<unknown>[] = Array.from({ length: 10 }, (_, i) => a.describePcr(i).then(() => order.push(i)))
    calls.push(a.describePcr(99).catch(() => order.push(99)))
    await Promise.all(calls)
    expect(maxInFlight).toBe(1)
    expect(order).toEqual([...Array(10).keys(), 99])
  })
})

describe('NSM server over a unix socket', () => {
  let dir: string
  let listener: Listener
  let address: string
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nsm-server-'))
    address = `unix:${join(dir, 'nsm.sock')}`
    listener = await serveNsm(sim, address)
  })
  afterAll(async () => {
    await listener.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('round trip: a document from the server verifies against the simulator root', async () => {
    const a = await openAttester(address)
    expect(a.description).toBe(address)
    const d = await a.describeNsm()
    expect(d.moduleId).toBe(sim.moduleId)
    const doc = await a.attest({ nonce: Buffer.from('abcd', 'hex') })
    const r = await verifyAttestation(doc, { trustAnchors: [sim.rootCertificatePem], nonce: Buffer.from('abcd', 'hex') })
    expect(r.moduleId).toBe(sim.moduleId)
    await expect(a.describePcr(32)).rejects.toMatchObject({ code: 'ERR_NSM_INVALID_INDEX' })
    await a.close()
  })

  test('concurrent attest calls from several clients each get their own document', async () => {
    const clients = await Promise.all([1, 2, 3].map(() => openAttester(address)))
    const jobs = Array.from({ length: 12 }, (_, i) => clients[i % 3].attest({ nonce: Buffer.from([i]) }))
    const docs = await Promise.all(jobs)
    const results = await Promise.all(docs.map((d) => verifyAttestation(d, { trustAnchors: [sim.rootCertificatePem] })))
    results.forEach((r, i) => expect(Buffer.from(r.nonce!).equals(Buffer.from([i]))).toBe(true))
    await Promise.all(clients.map((c) => c.close()))
  })

  /** Sends raw bytes, collects the reply until the server closes or a frame arrives. */
  function raw(bytes: Uint8Array): Promise<{ frames: Uint8Array[]; closed: boolean }> {
    return new Promise((resolve, reject) => {
      const s = netConnect(join(dir, 'nsm.sock'))
      const reader = new FrameReader(12288)
      const frames: Uint8Array[] = []
      s.on('data', (c: Buffer) => {
        frames.push(...reader.push(c))
        if (frames.length > 0) {
          s.destroy()
          resolve({ frames, closed: false })
        }
      })
      s.on('close', () => resolve({ frames, closed: true }))
      s.on('error', reject)
      s.write(bytes)
    })
  }

  test('a malformed request gets the NSM answer InvalidOperation', async () => {
    const { frames } = await raw(encodeFrame(Buffer.from('garbage')))
    expect(Buffer.from(frames[0]).toString('hex')).toBe(Buffer.from(encodeResponse({ type: 'Error', error: 'InvalidOperation' })).toString('hex'))
  })

  test('a frame longer than 4096 bytes, or of length 0, closes the connection without an answer', async () => {
    const big = Buffer.alloc(4)
    big.writeUInt32BE(4097)
    expect(await raw(big)).toEqual({ frames: [], closed: true })
    expect(await raw(Buffer.alloc(4))).toEqual({ frames: [], closed: true })
  })

  test('pipelined requests on one connection are answered in order; more than 16 drop the connection', async () => {
    const collect = (bytes: Uint8Array, want: number): Promise<{ frames: Uint8Array[]; closed: boolean }> =>
      new Promise((resolve, reject) => {
        const s = netConnect(join(dir, 'nsm.sock'))
        const reader = new FrameReader(12288)
        const frames: Uint8Array[] = []
        s.on('data', (c: Buffer) => {
          frames.push(...reader.push(c))
          if (frames.length >= want) {
            s.destroy()
            resolve({ frames, closed: false })
          }
        })
        s.on('close', () => resolve({ frames, closed: true }))
        s.on('error', reject)
        s.write(bytes)
      })
    const reqs = [0, 1, 40].map((index) => encodeFrame(encodeRequest({ type: 'DescribePCR', index })))
    const { frames } = await collect(Buffer.concat(reqs), 3)
    const answers = frames.map((f) => decodeResponse(f))
    expect(answers.map((a) => a.type)).toEqual(['DescribePCR', 'DescribePCR', 'Error'])
    expect(answers[2]).toEqual({ type: 'Error', error: 'InvalidIndex' })
    const flood = Buffer.concat(Array.from({ length: 17 }, () => encodeFrame(encodeRequest({ type: 'GetRandom' }))))
    const r = await collect(flood, 17)
    expect(r.closed).toBe(true)
    expect(r.frames.length).toBeLessThan(17)
  })

  test('no server at the address: ERR_NSM_TRANSPORT naming it', async () => {
    const a = await openAttester(`unix:${join(dir, 'nobody.sock')}`)
    await expect(a.getRandom()).rejects.toMatchObject({ code: 'ERR_NSM_TRANSPORT', message: /nobody\.sock/ })
  })
})

describe('NSM server against hostile clients', () => {
  let dir: string
  let listener: Listener
  let path: string
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nsm-hostile-'))
    path = join(dir, 'nsm.sock')
    listener = await serveNsm(sim, `unix:${path}`, { idleTimeoutMs: 300 })
  })
  afterAll(async () => {
    await listener.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

  test('slowloris: bytes trickling in without ever completing a request do not keep the connection open', async () => {
    const s = netConnect(path)
    let closed = false
    s.on('close', () => (closed = true))
    s.on('error', () => {})
    const header = Buffer.alloc(4)
    header.writeUInt32BE(4000)
    s.write(header)
    // one byte every 100 ms: each would have reset a plain socket inactivity timeout (300 ms)
    for (let i = 0; i < 40 && !closed; i++) {
      await sleep(100)
      if (!closed) s.write(Uint8Array.of(0))
    }
    s.destroy()
    expect(closed).toBe(true)
  })

  test('a client that never reads its answers is dropped instead of having them buffered without bound', async () => {
    const s = netConnect(path)
    s.pause()
    let closed = false
    s.on('close', () => (closed = true))
    s.on('error', () => {})
    const req = encodeFrame(encodeRequest({ type: 'Attestation', userData: Buffer.alloc(1000), nonce: null, publicKey: null }))
    // 8 requests at a time, never more than 16 unanswered at the server: only the unread answers pile up
    let sent = 0
    for (; sent < 4000 && !closed; sent += 8) {
      s.write(Buffer.concat(Array.from({ length: 8 }, () => req)))
      await sleep(20)
    }
    s.destroy()
    expect(closed).toBe(true)
    expect(sent).toBeLessThan(4000)
  })

  test('a client that reads may keep pipelining, and an idle one is closed', async () => {
    const s = netConnect(path)
    const reader = new FrameReader(12288)
    let got = 0
    let closed = false
    s.on('data', (c: Buffer) => (got += reader.push(c).length))
    s.on('close', () => (closed = true))
    const req = encodeFrame(encodeRequest({ type: 'GetRandom' }))
    for (let round = 0; round < 10; round++) {
      s.write(Buffer.concat(Array.from({ length: 16 }, () => req)))
      while (got < 16 * (round + 1) && !closed) await sleep(5)
    }
    expect(closed).toBe(false)
    expect(got).toBe(160)
    await new Promise<void>((r) => (closed ? r() : s.once('close', () => r())))
  })
})

describe('NSM server connection cap', () => {
  test('connections beyond maxConnections are closed at once; a freed slot serves again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nsm-cap-'))
    const path = join(dir, 'nsm.sock')
    const l = await serveNsm(sim, `unix:${path}`, { maxConnections: 2 })
    try {
      const open = (): Promise<Socket> =>
        new Promise((resolve, reject) => {
          const s = netConnect(path, () => resolve(s))
          s.on('error', reject)
        })
      const held = [await open(), await open()]
      while (l.connections < 2) await new Promise((r) => setImmediate(r))
      const third = await open()
      const closed = await new Promise<boolean>((resolve) => {
        third.on('close', () => resolve(true))
        third.write(encodeFrame(encodeRequest({ type: 'GetRandom' })))
        third.on('data', () => resolve(false))
      })
      expect(closed).toBe(true)
      held[0].destroy()
      while (l.connections > 1) await new Promise((r) => setImmediate(r))
      const a = await openAttester(`unix:${path}`)
      expect((await a.getRandom()).length).toBe(256)
      held[1].destroy()
    } finally {
      await l.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('handleNsmRequest', () => {
  test('an Attester answer the codec cannot encode becomes InternalError, never a rejection', async () => {
    const odd = Object.create(sim) as NsmSimulator
    odd.describeNsm = async () => ({ ...(await sim.describeNsm()), lockedPcrs: [0.5] })
    const seen: unknown[] = []
    const out = await handleNsmRequest(odd, encodeRequest({ type: 'DescribeNSM' }), (e) => seen.push(e))
    expect(decodeResponse(out)).toEqual({ type: 'Error', error: 'InternalError' })
    expect(seen).toHaveLength(1)
  })
})

describe('openAttester selection', () => {
  test('explicit spec, then NITRO_RECIPIENT_NSM, then /dev/nsm', () => {
    expect(resolveNsmSpec('unix:/a', { NITRO_RECIPIENT_NSM: 'unix:/b' })).toBe('unix:/a')
    expect(resolveNsmSpec(undefined, { NITRO_RECIPIENT_NSM: 'unix:/b' })).toBe('unix:/b')
    expect(resolveNsmSpec(undefined, {})).toBe('/dev/nsm')
    expect(resolveNsmSpec('', { NITRO_RECIPIENT_NSM: '' })).toBe('/dev/nsm')
  })

  test('no device: ERR_NSM_UNAVAILABLE naming the simulator option, never a silent simulator', async () => {
    const err = await openAttester('/nonexistent/nsm').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NsmError)
    expect(err).toMatchObject({ code: 'ERR_NSM_UNAVAILABLE', message: expect.stringMatching(/simulator serve.*--nsm unix:.*NITRO_RECIPIENT_NSM/s) })
  })

  test('an unknown spec is an address error; simulator: needs a directory', async () => {
    await expect(openAttester('nsm.example')).rejects.toMatchObject({ code: 'ERR_ADDRESS_INVALID' })
    await expect(openAttester('simulator:')).rejects.toMatchObject({ code: 'ERR_NSM_UNAVAILABLE' })
  })
})

describe('/dev/nsm path (native addon)', () => {
  test('the addon is built here and reports the ioctl number 0xC0200A00', () => {
    const b = loadNsmBinding()
    expect('binding' in b ? b.binding.ioctlNumber : b.error).toBe(0xc0200a00)
  })

  test('a non-NSM file descriptor (/dev/null) gives a clean typed error (ENOTTY), no crash', async () => {
    const a = new ProtocolAttester(await DeviceTransport.open('/dev/null'))
    await expect(a.describeNsm()).rejects.toMatchObject({ code: 'ERR_NSM_IO', errno: 'ENOTTY' })
    // the client survives and keeps answering (with the same error)
    await expect(a.attest({ nonce: Uint8Array.of(1) })).rejects.toMatchObject({ code: 'ERR_NSM_IO', errno: 'ENOTTY' })
    // oversized requests never reach the ioctl: the error is InputTooLarge, not ENOTTY
    await expect(a.extendPcr(16, Buffer.alloc(4096))).rejects.toMatchObject({ code: 'ERR_NSM_INPUT_TOO_LARGE' })
    await a.close()
    await a.close()
  })

  test('the transport refuses out-of-bounds requests itself, and a closed device', async () => {
    const t = await DeviceTransport.open('/dev/null')
    await expect(t.exchange(new Uint8Array(0))).rejects.toMatchObject({ code: 'ERR_NSM_INPUT_TOO_LARGE' })
    await expect(t.exchange(new Uint8Array(4097))).rejects.toMatchObject({ code: 'ERR_NSM_INPUT_TOO_LARGE' })
    await t.close()
    await expect(t.exchange(Uint8Array.of(0x60))).rejects.toMatchObject({ code: 'ERR_NSM_IO', errno: 'EBADF' })
  })

  test('used directly, the transport runs one ioctl at a time (one response buffer) and close waits for it', async () => {
    const loaded = loadNsmBinding()
    if (!('binding' in loaded)) throw new Error(loaded.error)
    const binding = loaded.binding
    const real = binding.request.bind(binding)
    let inFlight = 0
    let maxInFlight = 0
    const events: string[] = []
    binding.request = async (fd, req, res) => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      try {
        await new Promise((r) => setTimeout(r, 5))
        return await real(fd, req, res)
      } finally {
        inFlight--
        events.push('ioctl')
      }
    }
    try {
      const t = await DeviceTransport.open('/dev/null')
      const calls = Array.from({ length: 5 }, () => t.exchange(Uint8Array.of(0x60)).catch((e: unknown) => e))
      const closed = t.close().then(() => events.push('closed'))
      // asked for after close(): refused at once, never sent to a closed (possibly reused) fd
      await expect(t.exchange(Uint8Array.of(0x60))).rejects.toMatchObject({ code: 'ERR_NSM_IO', errno: 'EBADF' })
      const results = await Promise.all(calls)
      await closed
      expect(maxInFlight).toBe(1)
      for (const r of results) expect(r).toMatchObject({ code: 'ERR_NSM_IO', errno: 'ENOTTY' })
      // the fd is closed only after the last ioctl asked for before close() has returned
      expect(events).toEqual(['ioctl', 'ioctl', 'ioctl', 'ioctl', 'ioctl', 'closed'])
      await t.close()
    } finally {
      binding.request = real
    }
  })

  test('many concurrent calls on the thread pool settle, none crash', async () => {
    const a = new ProtocolAttester(await DeviceTransport.open('/dev/null'))
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => a.getRandom()))
    expect(results.every((r) => r.status === 'rejected' && (r.reason as NsmError).code === 'ERR_NSM_IO')).toBe(true)
    await a.close()
  })
})

describe('NSM server on vsock', () => {
  test('binds vsock://any:0 through vsock-bridge (no loopback here, so no client round trip)', async () => {
    const l = await serveNsm(sim, 'vsock://any:0')
    expect(l.address).toMatchObject({ kind: 'vsock' })
    expect((l.address as { port: number }).port).toBeGreaterThan(0)
    await l.close()
  })
})
