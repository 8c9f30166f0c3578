import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../common/log.js'

describe('createLogger', () => {
  it('redacts secret-looking fields at the top level and two objects deep', async () => {
    const out = new PassThrough()
    const lines: string[] = []
    out.on('data', (c: Buffer) => lines.push(...c.toString().trim().split('\n')))
    const log = createLogger('test', { level: 'info', destination: out })
    log.info({ Plaintext: 'p1', req: { SecretAccessKey: 's1', headers: { token: 'a1' } }, keep: 'k' }, 'm')
    log.info({ a: { b: { SharedSecret: 'x1', Token: 't1' } } }, 'm')
    await new Promise((r) => setImmediate(r))
    const text = lines.join('\n')
    for (const secret of ['p1', 's1', 'a1', 'x1', 't1']) expect(text).not.toContain(`"${secret}"`)
    expect(JSON.parse(lines[0])).toMatchObject({ name: 'test', Plaintext: '[redacted]', req: { SecretAccessKey: '[redacted]', headers: { token: '[redacted]' } }, keep: 'k' })
  })
})
