// /dev/nsm without the native addon (not built: no compiler at install, or another platform):
// opening fails with ERR_NSM_UNAVAILABLE naming the simulator option, and nothing falls back to
// a simulator. The addon is built on this machine, so this file hides build/Release/nsm.node.
import { describe, expect, test, vi } from 'vitest'

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>()
  return { ...fs, existsSync: (p: import('node:fs').PathLike) => (String(p).endsWith('nsm.node') ? false : fs.existsSync(p)) }
})

const { DeviceTransport, loadNsmBinding } = await import('../../nsm/transport/device.js')
const { openAttester } = await import('../../nsm/open.js')

describe('no native addon', () => {
  test('loadNsmBinding reports why; opening /dev/nsm (or any device path) is ERR_NSM_UNAVAILABLE naming the simulator', async () => {
    expect(loadNsmBinding()).toEqual({ error: expect.stringMatching(/nsm\.node is not built.*build-native/) })
    // /dev/null exists: the missing addon alone must be enough to refuse
    await expect(DeviceTransport.open('/dev/null')).rejects.toMatchObject({
      code: 'ERR_NSM_UNAVAILABLE',
      message: expect.stringMatching(/not built.*simulator serve.*--nsm unix:.*NITRO_RECIPIENT_NSM/s),
    })
    await expect(openAttester(undefined, { env: {} })).rejects.toMatchObject({ code: 'ERR_NSM_UNAVAILABLE', message: /simulator serve/ })
  })
})
