import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger, resolveLogLevel } from '../../common/log.js'

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

  it('an unknown level, given or from NITRO_RECIPIENT_LOG_LEVEL, is a usage error naming its source (pino threw untyped)', () => {
    const saved = process.env.NITRO_RECIPIENT_LOG_LEVEL
    try {
      delete process.env.NITRO_RECIPIENT_LOG_LEVEL
      expect(resolveLogLevel(undefined, 'warn')).toBe('warn')
      expect(resolveLogLevel('debug', 'warn')).toBe('debug')
      expect(() => createLogger('x', { level: 'loud' })).toThrow(expect.objectContaining({ code: 'ERR_USAGE', message: expect.stringMatching(/^log level must be one of fatal, error/) }))
      process.env.NITRO_RECIPIENT_LOG_LEVEL = 'trace'
      expect(resolveLogLevel(undefined, 'warn')).toBe('trace')
      expect(resolveLogLevel('error')).toBe('error')
      process.env.NITRO_RECIPIENT_LOG_LEVEL = 'loud'
      expect(() => createLogger('x')).toThrow(expect.objectContaining({ code: 'ERR_USAGE', message: expect.stringMatching(/^NITRO_RECIPIENT_LOG_LEVEL must be one of/) }))
      expect(() => resolveLogLevel('nope', 'info', '--log-level')).toThrow(expect.objectContaining({ message: expect.stringMatching(/^--log-level must be/) }))
    } finally {
      if (saved === undefined) delete process.env.NITRO_RECIPIENT_LOG_LEVEL
      else process.env.NITRO_RECIPIENT_LOG_LEVEL = saved
    }
  })
})
