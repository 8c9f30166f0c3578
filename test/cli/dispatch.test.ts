import { describe, expect, it } from 'vitest'
import { run, COMPONENTS } from '../../cli/main.js'
import { captureIo } from '../helpers/io.js'

describe('nitro-recipient dispatcher', () => {
  it('prints usage listing every component on --help and exits 0', async () => {
    const c = captureIo()
    expect(await run(['--help'], c.io)).toBe(0)
    for (const name of Object.keys(COMPONENTS)) expect(c.stdout()).toContain(name)
  })

  it('exits 2 with usage when no component is given', async () => {
    const c = captureIo()
    expect(await run([], c.io)).toBe(2)
  })

  it('rejects an unknown component with exit 2', async () => {
    const c = captureIo()
    expect(await run(['nope'], c.io)).toBe(2)
    expect(c.stderr()).toContain("unknown component 'nope'")
  })

  it('does not resolve inherited object keys as components', async () => {
    const c = captureIo()
    expect(await run(['constructor'], c.io)).toBe(2)
  })
})
