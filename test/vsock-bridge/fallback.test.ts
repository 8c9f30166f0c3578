// Without the addon (macOS, failed build, or NITRO_RECIPIENT_VSOCK_DISABLE=1) vsock addresses fail
// with ERR_VSOCK_UNAVAILABLE and unix/tcp keep working. A fresh module graph sees the variable.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'

describe('without the native addon', () => {
  let bridge: typeof import('../../vsock-bridge/index.js')
  beforeAll(async () => {
    process.env.NITRO_RECIPIENT_VSOCK_DISABLE = '1'
    vi.resetModules()
    bridge = await import('../../vsock-bridge/index.js')
  })
  afterAll(() => {
    delete process.env.NITRO_RECIPIENT_VSOCK_DISABLE
    vi.resetModules()
  })

  it('vsock connect, listen and localCid fail with ERR_VSOCK_UNAVAILABLE', async () => {
    const unavailable = { code: 'ERR_VSOCK_UNAVAILABLE', name: 'VsockUnavailableError', message: expect.stringMatching(/AF_VSOCK is unavailable: disabled by NITRO_RECIPIENT_VSOCK_DISABLE=1/) }
    await expect(bridge.connect('vsock://parent:8000')).rejects.toMatchObject(unavailable)
    await expect(bridge.listen('vsock://any:0', () => {})).rejects.toMatchObject(unavailable)
    expect(() => bridge.localCid()).toThrow(expect.objectContaining({ code: 'ERR_VSOCK_UNAVAILABLE' }))
    expect(bridge.vsockAvailable()).toBe(false)
  })

  it('tcp keeps working', async () => {
    const l = await bridge.listen('tcp://127.0.0.1:0', (s) => s.end('still here'))
    const s = await bridge.connect(l.address)
    const got = await new Promise<string>((resolve) => {
      let text = ''
      s.on('data', (c: Buffer) => (text += c.toString()))
      s.on('end', () => resolve(text))
    })
    expect(got).toBe('still here')
    await l.close()
  })

  it('the CLI says so', async () => {
    const { main } = await import('../../vsock-bridge/main.js')
    const { captureIo } = await import('../helpers/io.js')
    const c = captureIo()
    expect(await main(['info', '--json'], c.io)).toBe(1)
    expect(JSON.parse(c.stdout())).toMatchObject({ ok: false, addon: false, local_cid: null })
  })
})
