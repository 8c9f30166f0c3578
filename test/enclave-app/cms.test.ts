import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createDecipheriv, createPrivateKey, generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { CmsError, DEFAULT_BER_LIMITS, decryptRecipientEnvelope, parseBer, parseRecipientEnvelope } from '../../enclave-app/cms/index.js'

const dir = new URL('../fixtures/kms/', import.meta.url)
const fixture = (name: string): Buffer => readFileSync(new URL(name, dir))
const expected = JSON.parse(fixture('expected.json').toString('utf8')) as Record<string, Record<string, string>>
const synthetic = JSON.parse(fixture('synthetic-kms-shaped.json').toString('utf8')) as Record<string, string>
const syntheticKey = createPrivateKey(fixture('synthetic-recipient-rsa2048.pkcs8.pem'))

describe('parseRecipientEnvelope on real KMS envelopes (sdk-c cms_test.c)', () => {
  for (const [name, encoding] of [
    ['sdkc-cms-indef-chunked.ber', 'chunked'],
    ['sdkc-cms-primitive-content.ber', 'primitive'],
  ] as const) {
    it(name, () => {
      const env = parseRecipientEnvelope(fixture(name))
      const want = expected[name]
      expect(env.subjectKeyIdentifier.toString('hex')).toBe(want.rid_ski)
      expect(env.encryptedKey.toString('hex')).toBe(want.encryptedKey)
      expect(env.iv.toString('hex')).toBe(want.iv)
      expect(env.ciphertext.toString('hex')).toBe(want.ciphertext)
      expect(env.contentEncoding).toBe(encoding)
    })
  }
})

describe('decryptRecipientEnvelope', () => {
  it('decrypts the synthetic KMS-shaped envelope to 00..1f', () => {
    const pt = decryptRecipientEnvelope(fixture('synthetic-kms-shaped.ber'), syntheticKey)
    expect(pt.toString('hex')).toBe(synthetic.plaintext)
    expect(pt.toString('hex')).toBe(Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString('hex'))
  })

  it('one opaque error for a wrong key, a flipped encryptedKey bit and a flipped ciphertext bit', () => {
    const ber = fixture('synthetic-kms-shaped.ber')
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    const flip = (offset: number): Buffer => {
      const b = Buffer.from(ber)
      b[offset] ^= 0x01
      return b
    }
    const env = parseRecipientEnvelope(ber)
    const keyAt = ber.indexOf(env.encryptedKey)
    const ctAt = ber.indexOf(env.ciphertext)
    const cases: [Buffer, typeof syntheticKey][] = [
      [ber, other],
      [flip(keyAt + 100), syntheticKey],
      [flip(ctAt + env.ciphertext.length - 1), syntheticKey], // last block: breaks the padding
    ]
    for (const [b, k] of cases) {
      let err: unknown
      try {
        decryptRecipientEnvelope(b, k)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(CmsError)
      expect(err).toMatchObject({ code: 'ERR_CMS_DECRYPTION_FAILED', message: 'decryption operation failed' })
    }
  })

  it('zeroes the decrypted blocks when the padding check fails with the right key', () => {
    // A flipped last block breaks only the padding: update() has already produced the first 32
    // bytes of the real plaintext, which must not stay in memory behind the opaque error.
    const ber = Buffer.from(fixture('synthetic-kms-shaped.ber'))
    const env = parseRecipientEnvelope(ber)
    ber[ber.indexOf(env.ciphertext) + env.ciphertext.length - 1] ^= 0x01
    const proto = Object.getPrototypeOf(createDecipheriv('aes-256-cbc', Buffer.alloc(32), Buffer.alloc(16))) as { update: (...a: unknown[]) => Buffer }
    const update = proto.update
    const produced: Buffer[] = []
    proto.update = function (this: unknown, ...a: unknown[]): Buffer {
      const r = update.apply(this, a)
      produced.push(r)
      return r
    }
    try {
      expect(() => decryptRecipientEnvelope(ber, syntheticKey)).toThrow(expect.objectContaining({ code: 'ERR_CMS_DECRYPTION_FAILED' }))
    } finally {
      proto.update = update
    }
    expect(produced).toHaveLength(1)
    expect(produced[0]).toHaveLength(32)
    expect(produced[0].equals(Buffer.alloc(32))).toBe(true)
  })

  it('rejects a non-RSA or public key as programmer misuse', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    expect(() => decryptRecipientEnvelope(fixture('synthetic-kms-shaped.ber'), ec)).toThrow(TypeError)
  })
})

describe('envelopes made by openssl cms -encrypt (an independent producer)', () => {
  it('v2 with -keyid (OAEP-SHA256 with absent hash parameters, DER, primitive content) decrypts; v0 issuerAndSerialNumber (LocalStack shape) is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cms-openssl-'))
    try {
      const keyPath = join(dir, 'key.pem')
      const certPath = join(dir, 'cert.pem')
      const msgPath = join(dir, 'msg.bin')
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
      writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
      execFileSync('openssl', ['req', '-x509', '-key', keyPath, '-out', certPath, '-subj', '/CN=recipient', '-days', '1'], { stdio: 'ignore' })
      const msg = Buffer.from(Array.from({ length: 100 }, (_, i) => i))
      writeFileSync(msgPath, msg)
      const oaep = ['-aes256', '-keyopt', 'rsa_padding_mode:oaep', '-keyopt', 'rsa_oaep_md:sha256', '-keyopt', 'rsa_mgf1_md:sha256']
      const v2 = execFileSync('openssl', ['cms', '-encrypt', '-binary', '-in', msgPath, '-outform', 'DER', '-recip', certPath, '-keyid', ...oaep])
      const env = parseRecipientEnvelope(v2)
      expect(env.contentEncoding).toBe('primitive')
      expect(env.subjectKeyIdentifier).toHaveLength(20)
      expect(decryptRecipientEnvelope(v2, privateKey)).toEqual(msg)
      const v0 = execFileSync('openssl', ['cms', '-encrypt', '-binary', '-in', msgPath, '-outform', 'DER', '-recip', certPath, ...oaep])
      expect(() => parseRecipientEnvelope(v0)).toThrow(expect.objectContaining({ code: 'ERR_CMS_UNSUPPORTED' }))
      // PKCS#1 v1.5 key transport instead of OAEP.
      const v15 = execFileSync('openssl', ['cms', '-encrypt', '-binary', '-in', msgPath, '-outform', 'DER', '-recip', certPath, '-keyid', '-aes256'])
      expect(() => parseRecipientEnvelope(v15)).toThrow(expect.objectContaining({ code: 'ERR_CMS_UNSUPPORTED' }))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('profile pinning', () => {
  const base = fixture('sdkc-cms-indef-chunked.ber')
  const patched = (from: string, to: string): Buffer => {
    const hex = base.toString('hex')
    expect(hex.includes(from)).toBe(true)
    return Buffer.from(hex.replace(from, to), 'hex')
  }
  const cases: [string, Buffer, string][] = [
    ['trailing byte', Buffer.concat([base, Buffer.from([0])]), 'ERR_CMS_MALFORMED'],
    ['truncated', base.subarray(0, base.length - 1), 'ERR_CMS_MALFORMED'],
    ['empty', Buffer.alloc(0), 'ERR_CMS_MALFORMED'],
    ['EnvelopedData v0', patched('30800201023182016b', '30800201003182016b'), 'ERR_CMS_UNSUPPORTED'],
    ['KTRI v0', patched('308201670201028020', '308201670201008020'), 'ERR_CMS_UNSUPPORTED'],
    ['OAEP with SHA-1 hash', patched('a00f300d0609608648016503040201', 'a00f300d0609608648016503040202'), 'ERR_CMS_UNSUPPORTED'],
    ['MGF1 with SHA-384', patched('a11c301a06092a864886f70d010108300d0609608648016503040201', 'a11c301a06092a864886f70d010108300d0609608648016503040202'), 'ERR_CMS_UNSUPPORTED'],
    ['AES-128-CBC', patched('060960864801650304012a0410', '06096086480165030401020410'), 'ERR_CMS_UNSUPPORTED'],
    ['signedData content type', patched('06092a864886f70d010703', '06092a864886f70d010702'), 'ERR_CMS_MALFORMED'],
    ['non-minimal length', patched('3182016b', '318300016b'), 'ERR_CMS_MALFORMED'],
  ]
  for (const [name, bytes, code] of cases) {
    it(`rejects ${name} with ${code}`, () => {
      expect(() => parseRecipientEnvelope(bytes)).toThrow(expect.objectContaining({ code }))
    })
  }

  it('rejects input beyond the size bound before parsing', () => {
    expect(() => parseRecipientEnvelope(Buffer.alloc(70_000))).toThrow(expect.objectContaining({ code: 'ERR_CMS_TOO_LARGE' }))
  })

  it('rejects deep nesting', () => {
    const deep = Buffer.concat([Buffer.alloc(40, 0).fill(Buffer.from([0x30, 0x80])), Buffer.alloc(40, 0)])
    expect(() => parseBer(deep)).toThrow(expect.objectContaining({ code: 'ERR_CMS_TOO_LARGE' }))
  })
})

describe('property: hostile bytes only ever give a typed CmsError', () => {
  const base = fixture('sdkc-cms-indef-chunked.ber')
  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        try {
          parseRecipientEnvelope(bytes)
        } catch (e) {
          expect(e).toBeInstanceOf(CmsError)
        }
      }),
      { numRuns: 2000 },
    )
  })
  // Well-formed BER trees (definite and indefinite lengths, short and long form, any class): the
  // reader must accept each one and give back exactly its structure; any byte changed in one must
  // still end in a typed error or a parse. Random bytes alone seldom get past the first header.
  type Gen = { bytes: Buffer; shape: unknown }
  const lengthOf = (n: number, long: boolean): number[] => {
    if (n < 0x80 && !long) return [n]
    const out: number[] = []
    for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff)
    return [0x80 | out.length, ...out]
  }
  const tree = fc.letrec<{ tree: Gen; prim: Gen; cons: Gen }>((tie) => ({
    tree: fc.oneof({ depthSize: 'small' }, tie('prim'), tie('cons')),
    prim: fc
      .record({
        cls: fc.nat(3),
        tag: fc.nat(30),
        // short bodies, and ones long enough for one- and two-byte long-form lengths
        body: fc.oneof(fc.uint8Array({ maxLength: 20 }), fc.tuple(fc.integer({ min: 100, max: 700 }), fc.nat(255)).map(([n, v]) => new Uint8Array(n).fill(v))),
        long: fc.boolean(),
      })
      .filter(({ cls, tag }) => cls !== 0 || tag !== 0) // universal 0 is end-of-contents
      .map(({ cls, tag, body, long }) => ({
        bytes: Buffer.from([(cls << 6) | tag, ...lengthOf(body.length, long && body.length >= 0x80), ...body]),
        shape: { id: (cls << 6) | tag, content: Buffer.from(body).toString('hex') },
      })),
    cons: fc
      .record({ cls: fc.nat(3), tag: fc.nat(30), kids: fc.array(tie('tree'), { maxLength: 4 }), indefinite: fc.boolean() })
      .filter(({ cls, tag }) => cls !== 0 || tag !== 0)
      .map(({ cls, tag, kids, indefinite }) => {
        const body = Buffer.concat(kids.map((k) => k.bytes))
        const id = (cls << 6) | 0x20 | tag
        const bytes = indefinite
          ? Buffer.concat([Buffer.from([id, 0x80]), body, Buffer.from([0, 0])])
          : Buffer.concat([Buffer.from([id, ...lengthOf(body.length, false)]), body])
        return { bytes, shape: { id, indefinite, children: kids.map((k) => k.shape) } }
      }),
  })).tree
  const shapeOf = (n: ReturnType<typeof parseBer>): unknown => {
    const id = (n.cls << 6) | (n.constructed ? 0x20 : 0) | n.tag
    return n.constructed ? { id, indefinite: n.indefinite, children: n.children!.map(shapeOf) } : { id, content: Buffer.from(n.content!).toString('hex') }
  }
  it('well-formed BER trees parse to their own structure; mutated ones give a typed error', () => {
    fc.assert(
      fc.property(tree, fc.nat(), fc.integer({ min: 1, max: 255 }), (g, at, xor) => {
        fc.pre(g.bytes.length <= DEFAULT_BER_LIMITS.maxBytes)
        let depth = 0
        const measure = (sh: unknown, d: number): void => {
          depth = Math.max(depth, d)
          for (const c of (sh as { children?: unknown[] }).children ?? []) measure(c, d + 1)
        }
        measure(g.shape, 0)
        fc.pre(depth <= DEFAULT_BER_LIMITS.maxDepth)
        expect(shapeOf(parseBer(g.bytes))).toEqual(g.shape)
        const b = Buffer.from(g.bytes)
        b[at % b.length] ^= xor
        try {
          parseBer(b)
        } catch (e) {
          expect(e).toBeInstanceOf(CmsError)
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('mutations of a real envelope: parse or typed error; decrypt never returns for a wrong key', () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    fc.assert(
      fc.property(fc.nat(base.length - 1), fc.integer({ min: 1, max: 255 }), fc.boolean(), (at, xor, truncate) => {
        const b = Buffer.from(base)
        b[at] ^= xor
        const input = truncate ? b.subarray(0, at) : b
        try {
          parseRecipientEnvelope(input)
        } catch (e) {
          expect(e).toBeInstanceOf(CmsError)
        }
        expect(() => decryptRecipientEnvelope(input, other)).toThrow(CmsError)
      }),
      { numRuns: 300 },
    )
  })
})
