// Parsers and pure logic: strict JSON (with fast-check against JSON.parse), the encryption
// context encoding, policy parsing/evaluation, the seed file, and the CLI in-process.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { KMSClient, DescribeKeyCommand, ListAliasesCommand } from '@aws-sdk/client-kms'
import { JsonSyntaxError, parseStrictJson } from '../../kms-local/json.js'
import { encodeEncryptionContext } from '../../kms-local/ciphertext.js'
import { attestationContext, evaluatePolicy, glob, parsePolicy } from '../../kms-local/policy.js'
import { KmsError } from '../../kms-local/errors.js'
import { Store } from '../../kms-local/store.js'
import { applySeed } from '../../kms-local/seed.js'
import { runCommand } from '../../kms-local/main.js'
import { silentLogger } from '../../common/log.js'
import { captureIo } from '../helpers/io.js'

describe('strict JSON', () => {
  it('agrees with JSON.parse on valid JSON without duplicate keys', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        const text = JSON.stringify(v)
        expect(JSON.stringify(parseStrictJson(Buffer.from(text)))).toBe(JSON.stringify(JSON.parse(text)))
      }),
      { numRuns: 500 },
    )
  })

  it('random text: a value or JsonSyntaxError, and never accepts what JSON.parse rejects', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        let ours: unknown
        let ok = true
        try {
          ours = parseStrictJson(s)
        } catch (e) {
          expect(e).toBeInstanceOf(JsonSyntaxError)
          ok = false
        }
        if (ok) expect(JSON.stringify(ours)).toBe(JSON.stringify(JSON.parse(s)))
      }),
      { numRuns: 3000 },
    )
  })

  it('rejects duplicates (at any depth), lone surrogates, invalid UTF-8, deep nesting, trailing data', () => {
    for (const bad of ['{"a":1,"a":1}', '{"x":{"b":[],"b":[]}}', '"\\ud800"', '"\\udc00x"', '[1,]', '{"a":1,}', '01', '1 2', '{"a":1}x', "{'a':1}", 'NaN', '"\t"']) {
      expect(() => parseStrictJson(bad), bad).toThrow(JsonSyntaxError)
    }
    expect(() => parseStrictJson(Buffer.from([0x22, 0xff, 0x22]))).toThrow(JsonSyntaxError)
    expect(() => parseStrictJson('['.repeat(40) + ']'.repeat(40))).toThrow(/too deep/)
    expect(parseStrictJson('"\\ud83d\\ude00"')).toBe('😀')
    const o = parseStrictJson('{"__proto__":{"polluted":1}}') as Record<string, unknown>
    expect(Object.getPrototypeOf(o)).toBeNull()
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})

describe('encryption context encoding', () => {
  it('is order-independent and unambiguous (the key||value collision of other emulators)', () => {
    expect(encodeEncryptionContext({ a: '1', b: '2' })).toEqual(encodeEncryptionContext({ b: '2', a: '1' }))
    expect(encodeEncryptionContext({ ab: 'c' })).not.toEqual(encodeEncryptionContext({ a: 'bc' }))
    expect(encodeEncryptionContext({ a: 'b', c: 'd' })).not.toEqual(encodeEncryptionContext({ a: 'bc', '': 'd' }))
    expect(encodeEncryptionContext({})).toEqual(encodeEncryptionContext(undefined))
  })

  it('property: different contexts encode differently', () => {
    const ctx = fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 4 })
    fc.assert(
      fc.property(ctx, ctx, (a, b) => {
        const same = JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort())
        expect(encodeEncryptionContext(a).equals(encodeEncryptionContext(b))).toBe(same)
      }),
      { numRuns: 1000 },
    )
  })
})

describe('policy', () => {
  const req = (action: string, ctx: [string, string][] = []) => ({
    principalArn: 'arn:aws:iam::111122223333:user/u',
    account: '111122223333',
    action,
    resource: 'arn:aws:kms:us-east-1:111122223333:key/k',
    context: new Map(ctx),
  })
  const pcr = 'AB'.repeat(48)

  it('Allow/Deny/implicit deny, action wildcards, principals', () => {
    const p = parsePolicy(JSON.stringify({
      Statement: [
        { Effect: 'Allow', Principal: { AWS: '111122223333' }, Action: 'kms:Generate*', Resource: '*' },
        { Effect: 'Deny', Principal: '*', Action: 'kms:GenerateRandom', Resource: '*' },
        { Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::999999999999:root' }, Action: 'kms:*', Resource: '*' },
      ],
    }))
    expect(evaluatePolicy(p, req('kms:GenerateDataKey'))).toBe('Allow')
    expect(evaluatePolicy(p, req('kms:generatedatakey'))).toBe('Allow')
    expect(evaluatePolicy(p, req('kms:GenerateRandom'))).toBe('ExplicitDeny')
    expect(evaluatePolicy(p, req('kms:Decrypt'))).toBe('ImplicitDeny')
  })

  it('condition operators on the attestation keys (keys case-insensitive; NitroTPM PCRs)', () => {
    const enclave = [...attestationContext('enclave', new Map([[0, Buffer.from(pcr, 'hex')], [8, Buffer.alloc(48)]]))]
    const tpm = [...attestationContext('nitrotpm', new Map([[4, Buffer.from(pcr, 'hex')]]))]
    const cond = (c: object) => parsePolicy(JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:Decrypt', Resource: '*', Condition: c }] }))
    const cases: [object, [string, string][], string][] = [
      [{ StringEqualsIgnoreCase: { 'kms:RecipientAttestation:ImageSha384': pcr } }, enclave, 'Allow'],
      [{ StringEquals: { 'kms:RecipientAttestation:ImageSha384': pcr } }, enclave, 'ImplicitDeny'], // case matters
      [{ StringEquals: { 'KMS:recipientattestation:PCR0': pcr.toLowerCase() } }, enclave, 'Allow'],
      [{ StringEquals: { 'kms:RecipientAttestation:PCR8': ['00'.repeat(48), 'ff'] } }, enclave, 'Allow'],
      [{ StringEquals: { 'kms:RecipientAttestation:PCR0': pcr.toLowerCase(), 'kms:RecipientAttestation:PCR8': 'ff' } }, enclave, 'ImplicitDeny'],
      [{ StringEquals: { 'kms:RecipientAttestation:PCR0': pcr.toLowerCase() } }, [], 'ImplicitDeny'],
      [{ StringEqualsIfExists: { 'kms:RecipientAttestation:PCR0': 'x' } }, [], 'Allow'],
      [{ Null: { 'kms:RecipientAttestation:ImageSha384': 'false' } }, enclave, 'Allow'],
      [{ Null: { 'kms:RecipientAttestation:ImageSha384': 'false' } }, tpm, 'ImplicitDeny'],
      [{ Null: { 'kms:RecipientAttestation:ImageSha384': 'true' } }, [], 'Allow'],
      [{ StringEqualsIgnoreCase: { 'kms:RecipientAttestation:NitroTPMPCR4': pcr } }, tpm, 'Allow'],
      [{ StringEqualsIgnoreCase: { 'kms:RecipientAttestation:NitroTPMPCR4': pcr } }, enclave, 'ImplicitDeny'],
      [{ StringNotEquals: { 'kms:RecipientAttestation:PCR0': 'x' } }, [], 'Allow'],
    ]
    for (const [c, ctx, want] of cases) expect({ c, got: evaluatePolicy(cond(c), req('kms:Decrypt', ctx)) }).toEqual({ c, got: want })
  })

  it('glob: IAM wildcards, agreeing with a reference RegExp, linear on hostile patterns', () => {
    const ref = (p: string, v: string): boolean => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's').test(v)
    fc.assert(
      fc.property(fc.stringMatching(/^[ab*?]{0,8}$/), fc.stringMatching(/^[ab]{0,10}$/), (p, v) => {
        expect(glob(p, v, false)).toBe(ref(p, v))
      }),
      { numRuns: 3000 },
    )
    expect(glob('kms:Generate*', 'kms:GenerateDataKey', false)).toBe(true)
    expect(glob('KMS:generate*', 'kms:GenerateDataKey', true)).toBe(true)
    expect(glob('kms:Decrypt', 'kms:Decrypt2', false)).toBe(false)
    // As a backtracking RegExp this never finishes (the suite's timeout would fail it).
    expect(glob(`${'*a'.repeat(2000)}b`, 'a'.repeat(100), false)).toBe(false)
  })

  it('refuses what it cannot evaluate, with MalformedPolicyDocumentException', () => {
    const bad = [
      { Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { 'ForAnyValue:StringEquals': { a: 'b' } } }] },
      { Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { DateGreaterThan: { a: 'b' } } }] },
      // Condition keys kms-local never supplies: this Deny would never fire, this Allow always match.
      { Statement: [{ Effect: 'Deny', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:tenant': 'other' } } }] },
      { Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { StringNotEquals: { 'kms:ViaService': 'x' } } }] },
      { Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { StringEquals: { 'kms:RecipientAttestation:ImageSha348': 'x' } } }] },
      { Statement: [{ Effect: 'Allow', NotPrincipal: '*', Action: 'kms:*', Resource: '*' }] },
      { Statement: [{ Effect: 'Allow', Principal: { Federated: 'x' }, Action: 'kms:*', Resource: '*' }] },
      // No wildcards inside a principal (IAM has none; an exact-match Deny would deny nobody).
      { Statement: [{ Effect: 'Deny', Principal: { AWS: 'arn:aws:iam::111122223333:user/*' }, Action: 'kms:*', Resource: '*' }] },
      { Statement: [{ Effect: 'Deny', Principal: { AWS: ['arn:aws:iam::111122223333:role/app?'] }, Action: 'kms:*', Resource: '*' }] },
      { Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:*' }] },
      { Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:*', NotAction: 'kms:x', Resource: '*' }] },
      { Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { Null: { 'kms:RecipientAttestation:PCR0': 'maybe' } } }] },
      // Policy variables (2012-10-17) are not substituted: matched literally this Deny would never fire.
      { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 'kms:*', Resource: 'arn:aws:kms:${aws:Region}:111122223333:key/*' }] },
      { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { StringLike: { 'aws:PrincipalArn': 'arn:aws:iam::${aws:PrincipalAccount}:*' } } }] },
      { Version: '2099-01-01', Statement: [] },
      { Statement: [] },
    ]
    // Under the 2008-10-17 grammar `${` is plain text.
    expect(parsePolicy(JSON.stringify({ Version: '2008-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '${x}' }] })).statements).toHaveLength(1)
    for (const p of bad) {
      let err: unknown
      try {
        parsePolicy(JSON.stringify(p))
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(KmsError)
      expect((err as KmsError).type).toBe('MalformedPolicyDocumentException')
    }
  })
})

describe('RSA digest signatures (rsa-digest.ts)', () => {
  it('PSS and PKCS#1 v1.5 over a digest agree with node:crypto over the message, both ways', async () => {
    const { createHash, generateKeyPairSync, sign, verify, constants } = await import('node:crypto')
    const { signDigest, verifyDigest } = await import('../../kms-local/rsa-digest.js')
    for (const bits of [2048, 2049, 3072]) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits })
      for (const hash of ['sha256', 'sha384', 'sha512']) {
        for (const pss of [true, false]) {
          const msg = Buffer.from(`m ${bits} ${hash} ${pss}`)
          const d = createHash(hash).update(msg).digest()
          const opts = pss ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: d.length } : { padding: constants.RSA_PKCS1_PADDING }
          expect(verify(hash, msg, { key: publicKey, ...opts }, signDigest(privateKey, hash, pss, d))).toBe(true)
          const theirs = sign(hash, msg, { key: privateKey, ...opts })
          expect(verifyDigest(publicKey, hash, pss, d, theirs)).toBe(true)
          expect(verifyDigest(publicKey, hash, !pss, d, theirs)).toBe(false)
          const flipped = Buffer.from(theirs)
          flipped[10] ^= 0x40
          expect(verifyDigest(publicKey, hash, pss, d, flipped)).toBe(false)
          expect(verifyDigest(publicKey, hash, pss, d, theirs.subarray(1))).toBe(false)
        }
      }
    }
  })
})

describe('seed file and CLI', () => {
  it('seeds keys and aliases idempotently; refuses unknown fields', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kms-local-seed-'))
    try {
      const file = join(dir, 'seed.yaml')
      writeFileSync(file, [
        'keys:',
        '  - keyId: 0f0e0d0c-0b0a-4908-8706-050403020100',
        '    description: seeded',
        `    material: ${Buffer.alloc(32, 1).toString('base64')}`,
        '    aliases: [alias/seeded]',
        '  - keySpec: ECC_NIST_P256',
        '    keyUsage: SIGN_VERIFY',
        '',
      ].join('\n'))
      const store = Store.memory()
      expect(await applySeed(file, store, 'us-east-1', '111122223333')).toBe(2)
      expect(await applySeed(file, store, 'us-east-1', '111122223333')).toBe(1) // the random-ID key again, the fixed one skipped
      expect(store.getAlias('111122223333', 'us-east-1', 'alias/seeded')?.keyId).toBe('0f0e0d0c-0b0a-4908-8706-050403020100')
      expect(store.material('0f0e0d0c-0b0a-4908-8706-050403020100')).toEqual(Buffer.alloc(32, 1))
      // An alias that already names another key is an error, not silently left pointing there.
      writeFileSync(file, 'keys:\n  - keyId: 0f0e0d0c-0b0a-4908-8706-050403020199\n    aliases: [alias/seeded]\n')
      await expect(applySeed(file, store, 'us-east-1', '111122223333')).rejects.toMatchObject({
        code: 'ERR_KMS_LOCAL_SEED',
        message: 'seed: keys[0].aliases: alias/seeded already names key 0f0e0d0c-0b0a-4908-8706-050403020100',
      })
      expect(store.getKey('0f0e0d0c-0b0a-4908-8706-050403020199')).toBeUndefined() // the failed entry left nothing behind
      expect(store.getAlias('111122223333', 'us-east-1', 'alias/seeded')?.keyId).toBe('0f0e0d0c-0b0a-4908-8706-050403020100')
      writeFileSync(file, 'keys:\n  - descripton: typo\n')
      await expect(applySeed(file, store, 'us-east-1', '111122223333')).rejects.toMatchObject({ code: 'ERR_KMS_LOCAL_SEED' })
      writeFileSync(file, 'keys: []\nkeys: []\n')
      await expect(applySeed(file, store, 'us-east-1', '111122223333')).rejects.toMatchObject({ code: 'ERR_KMS_LOCAL_SEED' })
      // Names of Object.prototype's members are not key specs (they were a TypeError).
      for (const spec of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
        writeFileSync(file, `keys:\n  - keySpec: ${spec}\n`)
        await expect(applySeed(file, store, 'us-east-1', '111122223333')).rejects.toMatchObject({ code: 'ERR_KMS_LOCAL_SEED', message: 'seed: keys[0].keySpec is not supported' })
      }
      store.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('`kms-local serve --json --seed` prints endpoint and dev credentials, answers the SDK, stops on abort', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kms-local-cli-'))
    try {
      const file = join(dir, 'seed.json')
      writeFileSync(file, JSON.stringify({ keys: [{ keyId: '0f0e0d0c-0b0a-4908-8706-050403020101', aliases: ['alias/cli'] }] }))
      const io = captureIo()
      const ac = new AbortController()
      const done = runCommand(['serve', '--json', '--listen', 'tcp://127.0.0.1:0', '--seed', file, '--region', 'eu-central-1'], io.io, ac.signal, silentLogger)
      let line = ''
      for (let i = 0; i < 200 && !line.includes('\n'); i++) {
        await new Promise((r) => setTimeout(r, 25))
        line = io.stdout()
      }
      const info = JSON.parse(line) as { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string; account: string }[] }
      expect(info.region).toBe('eu-central-1')
      expect(info.credentials[0]).toMatchObject({ accessKeyId: 'AKIAKMSLOCALDEV00001', account: '111122223333' })
      const c = new KMSClient({ region: info.region, endpoint: info.endpoint, credentials: info.credentials[0], maxAttempts: 1 })
      expect((await c.send(new DescribeKeyCommand({ KeyId: 'alias/cli' }))).KeyMetadata!.Arn).toBe('arn:aws:kms:eu-central-1:111122223333:key/0f0e0d0c-0b0a-4908-8706-050403020101')
      expect((await c.send(new ListAliasesCommand({}))).Aliases).toHaveLength(1)
      c.destroy()
      ac.abort()
      expect(await done).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('usage errors and --help', async () => {
    const io = captureIo()
    expect(await runCommand(['--help'], io.io, new AbortController().signal)).toBe(0)
    expect(io.stdout()).toContain('--trust-root <pem-file>')
    const { main } = await import('../../kms-local/main.js')
    const io2 = captureIo()
    expect(await main(['serve', '--bogus'], io2.io)).toBe(2)
    const io3 = captureIo()
    expect(await main(['serve', '--account', '12'], io3.io)).toBe(2)
    const io4 = captureIo()
    expect(await main(['serve', '--listen', 'tcp://0.0.0.0:0'], io4.io)).toBe(2)
    expect(io4.stderr()).toContain('public development credentials')
    const io5 = captureIo()
    expect(await main(['serve', '--listen', 'bogus://x'], io5.io)).toBe(1)
    // --account only applies to the development credentials; it was silently ignored with --credentials.
    const io6 = captureIo()
    expect(await main(['serve', '--account', '123456789012', '--credentials', '/nonexistent'], io6.io)).toBe(2)
    expect(io6.stderr()).toContain('--account sets the development credentials')
  })

  it('an unusable --trust-root fails the start (it made every Recipient request a 500)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kms-local-root-'))
    try {
      const file = join(dir, 'root.pem')
      for (const text of ['not a certificate\n', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n']) {
        writeFileSync(file, text)
        const io = captureIo()
        const { main } = await import('../../kms-local/main.js')
        expect(await main(['serve', '--listen', 'tcp://127.0.0.1:0', '--trust-root', file], io.io)).toBe(1)
        expect(io.stderr()).toContain('error ERR_KMS_LOCAL_CONFIG: unusable Recipient trust root')
      }
      const { startKmsLocal } = await import('../../kms-local/index.js')
      await expect(startKmsLocal({ trustRoots: [] })).rejects.toMatchObject({ code: 'ERR_KMS_LOCAL_CONFIG' })
      await expect(startKmsLocal({ maxAgeMs: -1 })).rejects.toMatchObject({ code: 'ERR_KMS_LOCAL_CONFIG' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
