// The awsJson1_1 front end and SigV4, below the SDK: requests signed by the SDK's own signer
// (@smithy/signature-v4), then tampered with, and unsigned raw requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KMSClient, ListKeysCommand } from '@aws-sdk/client-kms'
import fc from 'fast-check'
import { createHash, createHmac } from 'node:crypto'
import { KMS_EXCEPTIONS, OPERATIONS, verifySigV4, type KmsLocal } from '../../kms-local/index.js'
import type { SignedRequest } from '../../kms-local/sigv4.js'
import { failure, rawPost, signedPost, start } from './helpers.js'

let k: KmsLocal
beforeAll(async () => {
  k = await start()
})
afterAll(async () => k.close())

describe('SigV4', () => {
  it('a correctly signed request is answered (with x-amzn-RequestId)', async () => {
    const r = await signedPost(k, '{}')
    expect(r.status).toBe(200)
    expect(r.json).toMatchObject({ Keys: [], Truncated: false })
    expect(r.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/)
    expect(r.headers.get('content-type')).toBe('application/x-amz-json-1.1')
  })

  it('no Authorization: MissingAuthenticationTokenException', async () => {
    const r = await rawPost(k.endpoint, { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys' }, '{}')
    expect(r.status).toBe(400)
    expect(r.json).toEqual({ __type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' })
  })

  it('wrong secret: InvalidSignatureException; unknown access key: UnrecognizedClientException', async () => {
    let e = await failure(new KMSClient({ region: k.region, endpoint: k.endpoint, maxAttempts: 1, credentials: { accessKeyId: k.credentials[0].accessKeyId, secretAccessKey: 'wrong-secret-wrong-secret' } }).send(new ListKeysCommand({})))
    expect(e.name).toBe('InvalidSignatureException')
    expect(e.message).toMatch(/^The request signature we calculated does not match the signature you provided/)
    e = await failure(new KMSClient({ region: k.region, endpoint: k.endpoint, maxAttempts: 1, credentials: { accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'x' } }).send(new ListKeysCommand({})))
    expect(e).toMatchObject({ name: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' })
    // A session token nobody issued.
    e = await failure(new KMSClient({ region: k.region, endpoint: k.endpoint, maxAttempts: 1, credentials: { ...k.credentials[0], sessionToken: 'tok' } }).send(new ListKeysCommand({})))
    expect(e.name).toBe('UnrecognizedClientException')
  })

  it('wrong region in the scope, and clock skew beyond 5 minutes: InvalidSignatureException', async () => {
    let e = await failure(new KMSClient({ region: 'eu-west-1', endpoint: k.endpoint, maxAttempts: 1, credentials: k.credentials[0] }).send(new ListKeysCommand({})))
    expect(e).toMatchObject({ name: 'InvalidSignatureException', message: "Credential should be scoped to a valid region, not 'eu-west-1'." })
    const r = await signedPost(k, '{}', { signingDate: new Date(Date.now() - 6 * 60_000) })
    expect(r.json.__type).toBe('InvalidSignatureException')
    expect(String(r.json.message)).toMatch(/^Signature expired: \d{8}T\d{6}Z is now earlier than/)
    e = await failure(new KMSClient({ region: k.region, endpoint: k.endpoint, maxAttempts: 1, credentials: k.credentials[0], systemClockOffset: 10 * 60_000 }).send(new ListKeysCommand({})))
    expect(e.name).toBe('InvalidSignatureException')
    // Within the window is fine.
    expect((await signedPost(k, '{}', { signingDate: new Date(Date.now() - 4 * 60_000) })).status).toBe(200)
  })

  it("signed header values canonicalized as the SDK's signer does (runs of spaces and tabs are one space)", async () => {
    for (const v of ['a  b', 'a\tb', 'a \t  b', 'x y']) {
      const r = await signedPost(k, '{}', { headers: { 'x-amz-meta-test': v } })
      expect({ v, status: r.status, type: r.json.__type }).toEqual({ v, status: 200, type: undefined })
    }
  })

  it('anything changed after signing is rejected: body, target, signature, signed headers', async () => {
    const tamper: [string, (r: { headers: Record<string, string>; body: string | Buffer }) => void, string][] = [
      ['body', (r) => { r.body = '{"Limit":1}' }, 'InvalidSignatureException'],
      ['a signed header removed', (r) => { delete r.headers['x-amz-content-sha256'] }, 'IncompleteSignatureException'],
      ['declared content hash', (r) => { r.headers['x-amz-content-sha256'] = '0'.repeat(64) }, 'InvalidSignatureException'],
      ['target', (r) => { r.headers['x-amz-target'] = 'TrentService.ListAliases' }, 'InvalidSignatureException'],
      ['signature byte', (r) => { r.headers.authorization = r.headers.authorization.replace(/Signature=(.)/, (_m, c: string) => `Signature=${c === '0' ? '1' : '0'}`) }, 'InvalidSignatureException'],
      ['signature length', (r) => { r.headers.authorization = `${r.headers.authorization}00` }, 'InvalidSignatureException'],
      ['unsigned x-amz-date', (r) => { r.headers.authorization = r.headers.authorization.replace(';x-amz-date', '') }, 'IncompleteSignatureException'],
      ['missing Credential', (r) => { r.headers.authorization = r.headers.authorization.replace(/Credential=[^,]+, /, '') }, 'IncompleteSignatureException'],
      ['other algorithm', (r) => { r.headers.authorization = r.headers.authorization.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA512') }, 'IncompleteSignatureException'],
      ['no x-amz-date', (r) => { delete r.headers['x-amz-date'] }, 'IncompleteSignatureException'],
      ['unsigned x-amz-target', (r) => { r.headers.authorization = r.headers.authorization.replace(';x-amz-target', '') }, 'IncompleteSignatureException'],
    ]
    for (const [what, mutate, type] of tamper) {
      const r = await signedPost(k, '{}', { mutate })
      expect({ what, type: r.json.__type, status: r.status }).toEqual({ what, type, status: 400 })
    }
  })
})

describe('SigV4 verifier (verifySigV4) against a hand-written signer', () => {
  const cred = { accessKeyId: 'AKIAKMSLOCALDEV00001', secretAccessKey: 'kms-local/development/secret/key/00001', account: '111122223333', principalArn: 'arn:aws:iam::111122223333:user/u' }
  const creds = new Map([[cred.accessKeyId, cred]])
  /** The SigV4 steps written out, signing whatever x-amz-date string it is given. */
  function signed(amzDate: string): SignedRequest {
    const headers: Record<string, string> = { host: 'kms.local', 'x-amz-date': amzDate, 'x-amz-target': 'TrentService.ListKeys' }
    const names = Object.keys(headers).sort()
    const hmac = (k: string | Buffer, d: string): Buffer => createHmac('sha256', k).update(d).digest()
    const canonical = ['POST', '/', '', names.map((h) => `${h}:${headers[h]}\n`).join(''), names.join(';'), createHash('sha256').update('{}').digest('hex')].join('\n')
    const scope = `${amzDate.slice(0, 8)}/us-east-1/kms/aws4_request`
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n')
    let key = hmac(`AWS4${cred.secretAccessKey}`, amzDate.slice(0, 8))
    for (const part of ['us-east-1', 'kms', 'aws4_request']) key = hmac(key, part)
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${cred.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${hmac(key, toSign).toString('hex')}`
    return { method: 'POST', url: '/', rawHeaders: Object.entries(headers).flat(), body: Buffer.from('{}') }
  }

  it('a repeated X-Amz-Target or Content-Type is refused (signed as one joined value, acted on as the first)', () => {
    const now = new Date('2026-01-01T00:00:00Z')
    const ok = signed('20260101T000000Z')
    expect(verifySigV4(ok, creds, { region: 'us-east-1', now }).account).toBe('111122223333')
    const ct = ['Content-Type', 'application/x-amz-json-1.1']
    expect(verifySigV4({ ...ok, rawHeaders: [...ok.rawHeaders, ...ct] }, creds, { region: 'us-east-1', now }).account).toBe('111122223333')
    for (const [name, extra] of [['X-Amz-Target', ['x-amz-target', 'TrentService.Decrypt']], ['Content-Type', [...ct, 'content-type', 'application/json']]] as const) {
      const req = { ...ok, rawHeaders: [...ok.rawHeaders, ...extra] }
      expect(() => verifySigV4(req, creds, { region: 'us-east-1', now }), name).toThrow(
        expect.objectContaining({ type: 'IncompleteSignatureException', message: `Multiple ${name} headers` }),
      )
    }
  })

  it('accepts a real instant; refuses dates Date.UTC would roll over (Feb 29 of 2026, month 13, hour 24)', () => {
    expect(verifySigV4(signed('20260101T000000Z'), creds, { region: 'us-east-1', now: new Date('2026-01-01T00:00:00Z') }).account).toBe('111122223333')
    for (const [amzDate, now] of [['20260229T000000Z', '2026-03-01T00:00:00Z'], ['20251301T000000Z', '2026-01-01T00:00:00Z'], ['20260101T240000Z', '2026-01-02T00:00:00Z']]) {
      expect(() => verifySigV4(signed(amzDate), creds, { region: 'us-east-1', now: new Date(now) }), amzDate).toThrow(
        expect.objectContaining({ type: 'IncompleteSignatureException', message: `Date must be in ISO-8601 'basic format'. Got '${amzDate}'.` }),
      )
    }
  })
})

describe('awsJson1_1 front end', () => {
  it('unknown target: UnknownOperationException', async () => {
    for (const target of ['DeleteEverything', 'toString', '__proto__', 'constructor']) {
      const r = await signedPost(k, '{}', { target })
      expect(r.json).toEqual({ __type: 'UnknownOperationException' })
    }
  })

  it('wrong content type: SerializationException', async () => {
    const r = await signedPost(k, '{}', { contentType: 'application/json' })
    expect(r.json.__type).toBe('SerializationException')
  })

  it('malformed JSON, duplicate members, wrong types, unknown members, bad base64: SerializationException', async () => {
    const bodies: [string, string][] = [
      ['{', 'ListKeys'],
      ['{"Limit":1,"Limit":2}', 'ListKeys'],
      ['{"Limit":"1"}', 'ListKeys'],
      ['{"Limit":1.5}', 'ListKeys'],
      ['[]', 'ListKeys'],
      ['{"Limit":1}x', 'ListKeys'],
      ['{"Limt":1}', 'ListKeys'],
      ['{"NumberOfBytes":32,"Recipent":{}}', 'GenerateRandom'],
      ['{"KeyId":"k","Plaintext":"not base64!"}', 'Encrypt'],
      ['{"KeyId":"k","Plaintext":"AAA"}', 'Encrypt'],
      // Non-zero padding bits: a second spelling of AA== / AAA=.
      ['{"KeyId":"k","Plaintext":"AB=="}', 'Encrypt'],
      ['{"KeyId":"k","Plaintext":"AAB="}', 'Encrypt'],
      ['{"KeyId":"k","Plaintext":"AQ==","EncryptionContext":{"a":1}}', 'Encrypt'],
      ['{"KeyId":"k","Plaintext":"AQ==","EncryptionContext":{"a":"1","a":"2"}}', 'Encrypt'],
      // An empty context key with a non-string value (was a TypeError, so a 500).
      ['{"KeyId":"k","Plaintext":"AQ==","EncryptionContext":{"":[]}}', 'Encrypt'],
      ['{"KeyId":"k","KeyPairSpec":"RSA_2048","EncryptionContext":{"":1}}', 'GenerateDataKeyPairWithoutPlaintext'],
      ['{"NumberOfBytes":32,"Recipient":{"AttestationDocument":"AQ==","KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256","Extra":1}}', 'GenerateRandom'],
    ]
    for (const [body, target] of bodies) {
      const r = await signedPost(k, body, { target })
      expect({ body, type: r.json.__type }).toEqual({ body, type: 'SerializationException' })
    }
  })

  it('constraint violations: ValidationException with KMS wording', async () => {
    let r = await signedPost(k, '{}', { target: 'Encrypt' })
    expect(r.json).toEqual({
      __type: 'ValidationException',
      message: "2 validation errors detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null; Value null at 'plaintext' failed to satisfy constraint: Member must not be null",
    })
    r = await signedPost(k, '{"NumberOfBytes":32,"Recipient":{"AttestationDocument":"AQ==","KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_1"}}', { target: 'GenerateRandom' })
    expect(r.json.__type).toBe('ValidationException')
    expect(r.json.message).toContain("at 'recipient.keyEncryptionAlgorithm'")
    r = await signedPost(k, '{"NumberOfBytes":32,"Recipient":{"AttestationDocument":"AQ=="}}', { target: 'GenerateRandom' })
    expect(r.json.__type).toBe('ValidationException')
  })

  it('Recipient is not a member where KMS has none (GenerateDataKeyWithoutPlaintext, Encrypt): refused, never ignored', async () => {
    const r = await signedPost(k, '{"KeyId":"alias/x","KeySpec":"AES_256","Recipient":{"AttestationDocument":"AQ==","KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256"}}', { target: 'GenerateDataKeyWithoutPlaintext' })
    expect(r.json.__type).toBe('SerializationException')
  })

  it('serves unix-socket listeners too (vsock-bridge addresses)', async () => {
    const { request } = await import('node:http')
    const { mkdtempSync, rmSync } = await import('node:fs')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const dir = mkdtempSync(join(tmpdir(), 'kms-local-unix-'))
    const u = await start({ listen: `unix:${join(dir, 'kms.sock')}` })
    try {
      expect(u.endpoint).toBe(`unix:${join(dir, 'kms.sock')}`)
      const body = await new Promise<string>((resolve, reject) => {
        const req = request({ socketPath: join(dir, 'kms.sock'), method: 'POST', path: '/', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys' } }, (res) => {
          let t = ''
          res.on('data', (c: Buffer) => (t += c.toString()))
          res.on('end', () => resolve(t))
        })
        req.on('error', reject)
        req.end('{}')
      })
      expect(JSON.parse(body)).toEqual({ __type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' })
    } finally {
      await u.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('oversized bodies: 413 before the body is read', async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 0x20)
    const r = await rawPost(k.endpoint, { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys' }, big)
    expect(r.status).toBe(413)
    expect(r.json.__type).toBe('RequestEntityTooLargeException')
  })

  it('property: any JSON body to any operation is a 200 or a KMS client error, never a 500', async () => {
    const ops = Object.keys(OPERATIONS)
    // Member names of the real shapes (so bodies get past the unknown-member check) with hostile values.
    const member = fc.constantFrom('KeyId', 'Plaintext', 'CiphertextBlob', 'NumberOfBytes', 'KeySpec', 'KeyPairSpec', 'EncryptionContext', 'GrantTokens', 'DryRun', 'Recipient', 'Limit', 'Marker', 'AliasName', 'TargetKeyId', 'Policy', 'Message', 'SigningAlgorithm', 'PublicKey')
    const value = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom('AQID', 'alias/x', 'RSA_2048', 'AES_256', '00000000-0000-4000-8000-000000000000', 'arn:aws:kms:us-east-1:111122223333:alias/x'))
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ops), fc.dictionary(member, value, { maxKeys: 4 }), async (op, body) => {
        const r = await signedPost(k, JSON.stringify(body), { target: op })
        if (r.status === 200) return
        expect(r.status).toBe(400)
        expect(Object.keys(KMS_EXCEPTIONS)).toContain(r.json.__type)
      }),
      { numRuns: 300 },
    )
  })

  it('an internal failure is a 500 KMSInternalException without details', async () => {
    const broken = await start()
    const { KMSClient: C, CreateKeyCommand } = await import('@aws-sdk/client-kms')
    const cl = new C({ region: broken.region, endpoint: broken.endpoint, credentials: broken.credentials[0], maxAttempts: 1 })
    broken.service.store.db.exec('DROP TABLE aliases')
    broken.service.store.db.exec('DROP TABLE keys')
    const e = await failure(cl.send(new CreateKeyCommand({})))
    expect(e.name).toBe('KMSInternalException')
    expect(e.$fault).toBe('server')
    expect(e.$metadata.httpStatusCode).toBe(500)
    expect(e.message).not.toMatch(/table|sqlite/i)
    await broken.close()
  })
})
