// Nothing secret reaches the logs or the startup banner; replaying documents is logged as a warning.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { CreateKeyCommand, DecryptCommand, EncryptCommand, GenerateDataKeyCommand } from '@aws-sdk/client-kms'
import { createLogger } from '../../common/log.js'
import { runCommand } from '../../kms-local/main.js'
import { captureIo } from '../helpers/io.js'
import { client, start } from './helpers.js'

function capture(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  return { logger: createLogger('kms-local', { level: 'debug', destination: out }), text: () => Buffer.concat(chunks).toString('utf8') }
}

describe('logs', () => {
  it('request logs carry no plaintext, data key, ciphertext or credentials', async () => {
    const log = capture()
    const k = await start({ logger: log.logger })
    try {
      const c = client(k)
      const id = (await c.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
      const secret = Buffer.from('very secret plaintext 1234567890')
      const e = await c.send(new EncryptCommand({ KeyId: id, Plaintext: secret }))
      const d = await c.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob }))
      const g = await c.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256' }))
      await c.send(new DecryptCommand({ CiphertextBlob: Buffer.from('bad') })).catch(() => undefined)
      const text = log.text()
      expect(text).toContain('"op":"Decrypt"')
      for (const s of [secret, Buffer.from(d.Plaintext!), Buffer.from(g.Plaintext!), Buffer.from(e.CiphertextBlob!)]) {
        expect(text).not.toContain(s.toString('base64'))
        expect(text).not.toContain(s.toString('hex'))
      }
      expect(text).not.toContain('very secret')
      expect(text).not.toContain(k.credentials[0].secretAccessKey)
    } finally {
      await k.close()
    }
  })

  it('--verify-at-document-time is a warning on every use', async () => {
    const log = capture()
    const k = await start({ logger: log.logger, verifyAtDocumentTime: true })
    try {
      const c = client(k)
      const id = (await c.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
      const doc = readFileSync(new URL('../fixtures/attestation/sequence-2025-04-04.cbor', import.meta.url))
      await c.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256', Recipient: { AttestationDocument: doc, KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' } }))
      const lines = log.text().trim().split('\n').map((l) => JSON.parse(l) as { level: number; msg: string; at?: string })
      const warn = lines.find((l) => l.msg.includes('at its own timestamp'))
      expect(warn).toMatchObject({ level: 40, at: '2025-04-04T18:39:07.519Z' })
    } finally {
      await k.close()
    }
  })

  it('configured credentials: the banner shows access key IDs, never their secrets', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kms-local-creds-'))
    try {
      const file = join(dir, 'creds.json')
      writeFileSync(file, JSON.stringify([{ accessKeyId: 'AKIAMYOWNKEY00000001', secretAccessKey: 'my-own-secret-value-123', account: '123456789012' }]), { mode: 0o600 })
      for (const json of [false, true]) {
        const io = captureIo()
        const ac = new AbortController()
        const done = runCommand(['serve', '--listen', 'tcp://127.0.0.1:0', '--credentials', file, ...(json ? ['--json'] : [])], io.io, ac.signal, capture().logger)
        for (let i = 0; i < 200 && !io.stdout().includes('AKIAMYOWNKEY00000001'); i++) await new Promise((r) => setTimeout(r, 25))
        ac.abort()
        expect(await done).toBe(0)
        expect(io.stdout()).toContain('AKIAMYOWNKEY00000001')
        expect(io.stdout()).not.toContain('my-own-secret-value-123')
      }
      writeFileSync(file, JSON.stringify([{ accessKeyId: 'AKIAMYOWNKEY00000001', secretAccessKey: 'short', account: '123456789012' }]))
      const io = captureIo()
      expect(await runCommand(['serve', '--credentials', file], io.io, new AbortController().signal).catch((e: { code: string }) => e.code)).toBe('ERR_KMS_LOCAL_CONFIG')
      // The same access key twice (the later entry silently replaced the earlier one).
      const entry = { accessKeyId: 'AKIAMYOWNKEY00000001', secretAccessKey: 'my-own-secret-value-123', account: '123456789012' }
      writeFileSync(file, JSON.stringify([entry, { ...entry, secretAccessKey: 'another-secret-value-456', account: '210987654321' }]))
      await expect(runCommand(['serve', '--listen', 'tcp://127.0.0.1:0', '--credentials', file], captureIo().io, AbortSignal.abort())).rejects.toMatchObject({
        code: 'ERR_KMS_LOCAL_CONFIG',
        message: `${file}[1]: accessKeyId AKIAMYOWNKEY00000001 is listed twice`,
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
