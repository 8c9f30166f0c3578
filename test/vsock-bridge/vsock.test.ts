// Real AF_VSOCK on this machine: /dev/vsock exists, no vsock loopback. Nothing here dials another
// CID: connects go only to the machine's own CID, which the kernel refuses locally (ENODEV).
import { describe, expect, it } from 'vitest'
import { connect, formatAddress, listen, localCid, VMADDR_CID_ANY, vsockAvailable, type Listener } from '../../vsock-bridge/index.js'
import { tryLoadBinding } from '../../vsock-bridge/native.js'
import { fdCount, settle } from './util.js'

describe('AF_VSOCK (real sockets)', () => {
  it('the addon is built and /dev/vsock works here', () => {
    const loaded = tryLoadBinding()
    // Say why, so a CI failure names the missing piece (compiler, headers, kernel).
    if ('error' in loaded) expect.fail(`the vsock addon is unavailable: ${loaded.error.message}`)
    expect(vsockAvailable()).toBe(true)
  })

  it('localCid() reads the ioctl: a guest CID, never any/local/host', () => {
    const cid = localCid()
    expect(Number.isInteger(cid)).toBe(true)
    expect(cid).toBeGreaterThan(2)
    expect(cid).toBeLessThan(VMADDR_CID_ANY)
  })

  it('binds vsock://any:0 to a free port in 49152..65535, listens, closes', async () => {
    const l = await listen('vsock://any:0', () => {})
    expect(l.address).toMatchObject({ kind: 'vsock', cid: VMADDR_CID_ANY })
    const port = (l.address as { port: number }).port
    expect(port).toBeGreaterThanOrEqual(49152)
    expect(port).toBeLessThanOrEqual(65535)
    expect(l.connections).toBe(0)
    await l.close()
    // The port is free again: the listening fd really went away.
    const again = await listen(l.address, () => {})
    expect(again.address).toEqual(l.address)
    await again.close()
  })

  it('binds an explicit port on the local CID', async () => {
    const probe = await listen('vsock://any:0', () => {})
    const port = (probe.address as { port: number }).port
    await probe.close()
    const l = await listen(`vsock://${localCid()}:${port}`, () => {})
    expect(l.address).toEqual({ kind: 'vsock', cid: localCid(), port })
    await l.close()
  })

  it('a second bind on the same port is EADDRINUSE and leaves the first listener working', async () => {
    const first = await listen('vsock://any:0', () => {})
    const err = await listen(first.address, () => {}).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'SocketError', code: 'EADDRINUSE', syscall: 'bind', address: formatAddress(first.address) })
    const other: Listener = await listen('vsock://any:0', () => {})
    await other.close()
    await first.close()
  })

  it('binding a CID that is not ours is EADDRNOTAVAIL (nothing is dialled)', async () => {
    const cid = localCid() === 4242 ? 4243 : 4242
    await expect(listen(`vsock://${cid}:0`, () => {})).rejects.toMatchObject({ code: 'EADDRNOTAVAIL', syscall: 'bind' })
  })

  it('connect to our own CID fails with a mapped errno (ENODEV: no loopback transport)', async () => {
    const l = await listen('vsock://any:0', () => {})
    const port = (l.address as { port: number }).port
    const err = await connect(`vsock://${localCid()}:${port}`, { timeoutMs: 5000 }).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'SocketError', code: 'ENODEV', syscall: 'connect', errno: 19 })
    expect((err as Error).message).toContain(`vsock://${localCid()}:${port}`)
    expect((err as Error).message).toMatch(/vsock_loopback/)
    await l.close()
  })

  it("connecting to cid 'any' is an address error, not a syscall", async () => {
    await expect(connect('vsock://any:5000')).rejects.toMatchObject({ code: 'ERR_ADDRESS_INVALID', message: expect.stringMatching(/for listening/) })
  })

  it('an already-aborted signal never creates a socket', async () => {
    const before = fdCount()
    await expect(connect(`vsock://${localCid()}:5000`, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORT_ERR' })
    expect(fdCount()).toBe(before)
  })

  it('10,000 bind/listen/close and failed-connect cycles leave the fd count unchanged', async () => {
    await settle()
    const before = fdCount()
    const cid = localCid()
    for (let i = 0; i < 10_000; i++) {
      const l = await listen('vsock://any:0', () => {})
      const port = (l.address as { port: number }).port
      // Every failure path must release its fd too.
      await expect(listen(l.address, () => {})).rejects.toMatchObject({ code: 'EADDRINUSE' })
      await expect(connect(`vsock://${cid}:${port}`)).rejects.toMatchObject({ code: 'ENODEV' })
      await l.close()
    }
    await settle()
    expect(fdCount()).toBe(before)
  })
})
