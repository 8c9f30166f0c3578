import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createPrivateKey, generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { opensslDecrypt } from './helpers.js'
import { buildRecipientEnvelope, recipientKeyIdentifier } from '../../kms-local/envelope.js'
import { decryptRecipientEnvelope, parseRecipientEnvelope } from '../../enclave-app/cms/index.js'

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const real = readFileSync(new URL('../fixtures/kms/sdkc-cms-indef-chunked.ber', import.meta.url))

describe('buildRecipientEnvelope', () => {
  it('has KMS byte layout: same length and same bytes as the real envelope outside the random fields', () => {
    const env = buildRecipientEnvelope(Buffer.alloc(32, 0xab), publicKey)
    expect(env.length).toBe(real.length)
    const got = parseRecipientEnvelope(env)
    const ref = parseRecipientEnvelope(real)
    expect(got.contentEncoding).toBe('chunked')
    expect(got.subjectKeyIdentifier).toEqual(recipientKeyIdentifier(publicKey))
    // Blank the random fields in both, then the bytes must be identical.
    const blank = (b: Buffer, e: typeof got): Buffer => {
      const c = Buffer.from(b)
      for (const f of [e.subjectKeyIdentifier, e.encryptedKey, e.iv, e.ciphertext]) c.fill(0, c.indexOf(f), c.indexOf(f) + f.length)
      return c
    }
    expect(blank(env, got).toString('hex')).toBe(blank(real, ref).toString('hex'))
  })

  it('round-trips through enclave-app/cms and through openssl cms -decrypt', () => {
    for (const size of [1, 15, 16, 32, 999, 1000, 1001, 4096]) {
      const pt = Buffer.from(Array.from({ length: size }, (_, i) => (i * 7) & 0xff))
      const env = buildRecipientEnvelope(pt, publicKey)
      expect(decryptRecipientEnvelope(env, privateKey)).toEqual(pt)
      expect(opensslDecrypt(env, privateKey)).toEqual(pt)
    }
  })

  it('openssl also opens the synthetic fixture (the cross-check itself works)', () => {
    const key = createPrivateKey(readFileSync(new URL('../fixtures/kms/synthetic-recipient-rsa2048.pkcs8.pem', import.meta.url)))
    const out = opensslDecrypt(readFileSync(new URL('../fixtures/kms/synthetic-kms-shaped.ber', import.meta.url)), key)
    expect(out.toString('hex')).toBe('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')
  })

  it('chunks content in 1000-byte OCTET STRINGs', () => {
    const env = buildRecipientEnvelope(Buffer.alloc(2500), publicKey)
    expect(parseRecipientEnvelope(env).ciphertext.length).toBe(2512)
    const asn1 = execFileSync('openssl', ['asn1parse', '-inform', 'DER'], { input: env }).toString()
    expect(asn1.match(/l= *1000 prim: +OCTET STRING/g)?.length).toBe(2)
    expect(asn1).toMatch(/l= *512 prim: +OCTET STRING/)
  })
})

