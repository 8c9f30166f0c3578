// `npm run demo`: the real document and the whole local recipient flow, in-process.
import { describe, expect, it } from 'vitest'
import { recipientFlow } from '../../cli/demo/recipient-flow.js'
import { captureIo } from '../helpers/io.js'

describe('demo: the recipient flow', () => {
  it('runs every step with the expected outcome, and never prints the secret', async () => {
    const c = captureIo()
    await recipientFlow(c.io)
    const out = c.stdout()
    expect(out).toMatch(/built demo\.eif \(\d+ bytes\): PCR0 [0-9a-f]{24}/)
    expect(out).toContain("parent's own Decrypt (no Recipient) refused: AccessDeniedException")
    expect(out).toContain('opened inside, equal to the secret')
    expect(out).toContain('impostor enclave (other PCR0) refused: AccessDeniedException')
    expect(out.match(/✓/g)).toHaveLength(10)
  })
})
