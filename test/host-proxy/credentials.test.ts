// The credential endpoint against a local fake IMDSv2, read by the AWS SDK's own HTTP
// (container) credentials provider.
import { afterEach, describe, expect, it } from 'vitest'
import { createServer, request, type Server } from 'node:http'
import * as net from 'node:net'
import type { AddressInfo } from 'node:net'
import { writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { fromHttp } from '@aws-sdk/credential-provider-http'
import { parseConfig } from '../../host-proxy/config.js'
import { ImdsCredentialSource, parseImdsCredentials } from '../../host-proxy/credentials.js'
import { HostProxy } from '../../host-proxy/server.js'
import { captureLogger, tempDir } from './helpers.js'

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY'
const SESSION = 'IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN+/=='
const KEY_ID = 'ASIAIOSFODNN7EXAMPLE'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

interface FakeImds {
  endpoint: string
  requests: string[]
  expiration: Date
  /** Forget issued session tokens (IMDS restarted): the next GET gets 401. */
  forgetTokens: () => void
  failing: boolean
}

/** IMDSv2 as documented: PUT /latest/api/token with a TTL header, then GETs with the token. */
async function fakeImds(role = 'enclave-role'): Promise<FakeImds> {
  const tokens = new Set<string>()
  let n = 0
  const state: FakeImds = {
    endpoint: '',
    requests: [],
    expiration: new Date(Date.now() + 6 * 3600_000),
    forgetTokens: () => tokens.clear(),
    failing: false,
  }
  const server: Server = createServer((req, res) => {
    state.requests.push(`${req.method} ${req.url}`)
    if (state.failing) return res.writeHead(500).end()
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds'])
      if (!(ttl >= 1 && ttl <= 21600)) return res.writeHead(400).end()
      const t = `token-${++n}`
      tokens.add(t)
      return res.writeHead(200, { 'content-type': 'text/plain' }).end(t)
    }
    // IMDSv1-style requests (no token) are refused, as on an instance that requires IMDSv2.
    if (req.method !== 'GET' || !tokens.has(String(req.headers['x-aws-ec2-metadata-token']))) return res.writeHead(401).end()
    if (req.url === '/latest/meta-data/iam/security-credentials/') return res.writeHead(200).end(`${role}\n`)
    if (req.url === `/latest/meta-data/iam/security-credentials/${role}`) {
      return res.writeHead(200).end(JSON.stringify({
        Code: 'Success', LastUpdated: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), Type: 'AWS-HMAC',
        AccessKeyId: KEY_ID, SecretAccessKey: SECRET, Token: SESSION, Expiration: state.expiration.toISOString().replace(/\.\d+Z$/, 'Z'),
      }))
    }
    return res.writeHead(404).end()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())))
  state.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return state
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }))
    }).on('error', reject).end()
  })
}

async function startEndpoint(credentialsYaml: string): Promise<{ url: string; proxy: HostProxy; log: ReturnType<typeof captureLogger> }> {
  const log = captureLogger()
  const proxy = await HostProxy.start(parseConfig(`credentials:\n${credentialsYaml}`), { logger: log.logger })
  cleanups.push(() => proxy.shutdown())
  const port = (proxy.credentialsAddress as { port: number }).port
  return { url: `http://127.0.0.1:${port}/credentials`, proxy, log }
}

describe('credential endpoint', () => {
  it('serves IMDSv2 role credentials to the AWS SDK container provider, with a token, never logging secrets', async () => {
    const imds = await fakeImds()
    const t = tempDir()
    cleanups.push(t.cleanup)
    const token = 'a-long-random-authorization-token-0123456789'
    writeFileSync(`${t.dir}/token`, `${token}\n`)
    const { url, proxy, log } = await startEndpoint(`
  listen: "tcp://127.0.0.1:0"
  source: imds
  authorization_token_file: ${t.dir}/token
  imds: {endpoint: "${imds.endpoint}"}
`)
    const creds = await fromHttp({ awsContainerCredentialsFullUri: url, awsContainerAuthorizationToken: token })()
    expect(creds).toMatchObject({ accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: SESSION })
    expect(creds.expiration?.getTime()).toBe(Math.floor(imds.expiration.getTime() / 1000) * 1000)
    // IMDSv2 flow: token first, then role discovery, then the role's credentials.
    expect(imds.requests).toEqual([
      'PUT /latest/api/token',
      'GET /latest/meta-data/iam/security-credentials/',
      'GET /latest/meta-data/iam/security-credentials/enclave-role',
    ])
    // Without the token, or with a wrong one: 401 and no credentials.
    expect((await get(url)).status).toBe(401)
    const wrong = await get(url, { authorization: `${token}x` })
    expect(wrong.status).toBe(401)
    expect(wrong.body).not.toContain(KEY_ID)
    // Cached: a second SDK fetch does not go back to IMDS.
    await fromHttp({ awsContainerCredentialsFullUri: url, awsContainerAuthorizationToken: token })()
    expect(imds.requests).toHaveLength(3)
    expect(proxy.metrics.render()).toContain('nitro_recipient_proxy_credential_requests_total{status="200"} 2')
    expect(proxy.metrics.render()).toContain('nitro_recipient_proxy_credential_requests_total{status="401"} 2')
    const text = log.text()
    expect(text).toContain('credentials served')
    for (const secret of [SECRET, SESSION, token]) expect(text).not.toContain(secret)
  })

  it('rotates the authorization token on reload without restarting the endpoint', async () => {
    const imds = await fakeImds()
    const t = tempDir()
    cleanups.push(t.cleanup)
    const yaml = `credentials:
  listen: "tcp://127.0.0.1:0"
  source: imds
  authorization_token_file: ${t.dir}/token
  imds: {endpoint: "${imds.endpoint}"}
`
    writeFileSync(`${t.dir}/token`, 'first-token-0123456789abcdef')
    const proxy = await HostProxy.start(parseConfig(yaml))
    cleanups.push(() => proxy.shutdown())
    const address = proxy.credentialsAddress
    const url = `http://127.0.0.1:${(address as { port: number }).port}/credentials`
    expect((await get(url, { authorization: 'first-token-0123456789abcdef' })).status).toBe(200)
    writeFileSync(`${t.dir}/token`, 'second-token-0123456789abcdef\n')
    await proxy.reload(parseConfig(yaml))
    expect(proxy.credentialsAddress).toBe(address) // same listener
    expect((await get(url, { authorization: 'first-token-0123456789abcdef' })).status).toBe(401)
    expect((await get(url, { authorization: 'second-token-0123456789abcdef' })).status).toBe(200)
    // A token file that became unreadable: the reload fails and the current token stays.
    writeFileSync(`${t.dir}/token`, 'short')
    await expect(proxy.reload(parseConfig(yaml))).rejects.toMatchObject({ code: 'ERR_PROXY_CONFIG_INVALID', path: 'credentials.authorization_token_file' })
    expect((await get(url, { authorization: 'second-token-0123456789abcdef' })).status).toBe(200)
  })

  it('refuses a token file that is huge or not a regular file without reading it all', async () => {
    const t = tempDir()
    cleanups.push(t.cleanup)
    writeFileSync(`${t.dir}/big`, 'a'.repeat(1 << 20))
    execFileSync('mkfifo', [`${t.dir}/fifo`])
    const start = (file: string): Promise<HostProxy> =>
      HostProxy.start(parseConfig(`credentials: {listen: "tcp://127.0.0.1:0", source: env, authorization_token_file: "${file}"}`))
    const path = 'credentials.authorization_token_file'
    await expect(start(`${t.dir}/big`)).rejects.toMatchObject({ code: 'ERR_PROXY_CONFIG_INVALID', path, message: expect.stringContaining('larger than 4098 bytes') })
    // A FIFO with no writer: refused at once (an open without O_NONBLOCK waited for a writer forever).
    await expect(start(`${t.dir}/fifo`)).rejects.toMatchObject({ code: 'ERR_PROXY_CONFIG_INVALID', path, message: expect.stringContaining('not a regular file') })
    await expect(start('/dev/zero')).rejects.toMatchObject({ code: 'ERR_PROXY_CONFIG_INVALID', path, message: expect.stringContaining('not a regular file') })
    // The longest token accepted can also be presented: it fits the endpoint's 8 KiB header limit
    // (8192 characters were accepted, and then every request carrying them was a 400).
    const env = { AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY }
    cleanups.push(() => {
      for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
    })
    process.env.AWS_ACCESS_KEY_ID = KEY_ID
    process.env.AWS_SECRET_ACCESS_KEY = SECRET
    writeFileSync(`${t.dir}/max`, `${'t'.repeat(4096)}\r\n`)
    const proxy = await start(`${t.dir}/max`)
    cleanups.push(() => proxy.shutdown())
    const url = `http://127.0.0.1:${(proxy.credentialsAddress as { port: number }).port}/credentials`
    const creds = await fromHttp({ awsContainerCredentialsFullUri: url, awsContainerAuthorizationToken: 't'.repeat(4096) })()
    expect(creds).toMatchObject({ accessKeyId: KEY_ID, secretAccessKey: SECRET })
    writeFileSync(`${t.dir}/over`, 't'.repeat(4097))
    await expect(start(`${t.dir}/over`)).rejects.toMatchObject({ code: 'ERR_PROXY_CONFIG_INVALID', path, message: expect.stringContaining('16 to 4096 printable characters') })
  })

  it('answers only GET on its path', async () => {
    const imds = await fakeImds()
    const { url } = await startEndpoint(`  listen: "tcp://127.0.0.1:0"\n  source: imds\n  imds: {endpoint: "${imds.endpoint}"}\n`)
    expect((await get(url.replace('/credentials', '/other'))).status).toBe(404)
    const post = await new Promise<number>((resolve) => request(url, { method: 'POST' }, (res) => { res.resume(); resolve(res.statusCode ?? 0) }).end())
    expect(post).toBe(405)
  })

  it('refreshes before expiry, renews an expired IMDS session token, and serves the cache through an IMDS outage', async () => {
    const imds = await fakeImds('r')
    let now = Date.now()
    imds.expiration = new Date(now + 3600_000)
    const src = new ImdsCredentialSource({ endpoint: imds.endpoint, role: 'r', refreshBeforeExpiryMs: 300_000, timeoutMs: 2000, now: () => now })
    await src.get()
    expect(imds.requests).toEqual(['PUT /latest/api/token', 'GET /latest/meta-data/iam/security-credentials/r'])
    now += 3600_000 - 300_001 // inside the refresh window
    imds.forgetTokens()
    await src.get()
    // 401 on the stale session token -> a new token -> the GET again.
    expect(imds.requests.slice(2)).toEqual(['GET /latest/meta-data/iam/security-credentials/r', 'PUT /latest/api/token', 'GET /latest/meta-data/iam/security-credentials/r'])
    // IMDS down while the held credentials are still valid for more than a minute: served from cache.
    imds.failing = true
    now += 1000
    await expect(src.get()).resolves.toMatchObject({ accessKeyId: KEY_ID })
    // Held credentials about to expire and IMDS down: a typed error.
    now = imds.expiration.getTime() - 30_000
    await expect(src.get()).rejects.toMatchObject({ code: 'ERR_PROXY_CREDENTIALS_FETCH' })
  })

  it('gives up on an IMDS answer that trickles in, after timeout_ms for the whole exchange', async () => {
    // Every answer is a 40-byte body sent one byte per quarter of the timeout: no pause is ever
    // long enough for an inactivity timeout, so only a deadline on the whole exchange ends it.
    const timeoutMs = 300
    const server = net.createServer((s) => {
      s.on('error', () => {})
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n')
        let sent = 0
        const drip = setInterval(() => {
          if (s.destroyed || sent === 40) return clearInterval(drip)
          s.write('a')
          sent++
        }, timeoutMs / 4)
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())))
    const src = new ImdsCredentialSource({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, role: 'r', refreshBeforeExpiryMs: 0, timeoutMs })
    await expect(src.get()).rejects.toMatchObject({ code: 'ERR_PROXY_CREDENTIALS_FETCH', message: `IMDS PUT /latest/api/token: timed out after ${timeoutMs} ms` })
  })

  it('returns 503 with a code, and no secret, when IMDS cannot be reached', async () => {
    const imds = await fakeImds()
    imds.failing = true
    const { url } = await startEndpoint(`  listen: "tcp://127.0.0.1:0"\n  source: imds\n  imds: {endpoint: "${imds.endpoint}", timeout_ms: 500}\n`)
    const r = await get(url)
    expect(r.status).toBe(503)
    expect(JSON.parse(r.body)).toEqual({ Code: 'ERR_PROXY_CREDENTIALS_FETCH', Message: 'credentials unavailable' })
  })

  it('serves static development credentials', async () => {
    const { url } = await startEndpoint(`
  listen: "tcp://127.0.0.1:0"
  source: static
  static: {access_key_id: AKIAIOSFODNN7EXAMPLE, secret_access_key: "${SECRET}"}
`)
    const creds = await fromHttp({ awsContainerCredentialsFullUri: url })()
    expect(creds).toMatchObject({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: SECRET, sessionToken: '' })
    expect(creds.expiration!.getTime()).toBeGreaterThan(Date.now())
  })

  it.each([
    ['not json', 'not JSON'],
    ['[]', 'not a JSON object'],
    [JSON.stringify({ Code: 'Failure' }), 'Code is "Failure"'],
    [JSON.stringify({ Code: 'Success', AccessKeyId: KEY_ID, SecretAccessKey: SECRET, Token: SESSION }), 'Expiration missing'],
    [JSON.stringify({ Code: 'Success', AccessKeyId: 'short', SecretAccessKey: SECRET, Token: SESSION, Expiration: '2030-01-01T00:00:00Z' }), 'AccessKeyId malformed'],
    [JSON.stringify({ Code: 'Success', AccessKeyId: KEY_ID, SecretAccessKey: 7, Token: SESSION, Expiration: '2030-01-01T00:00:00Z' }), 'SecretAccessKey missing'],
    [JSON.stringify({ Code: 'Success', AccessKeyId: KEY_ID, SecretAccessKey: SECRET, Token: SESSION, Expiration: 'tomorrow' }), 'RFC 3339'],
  ])('refuses a malformed IMDS document: %s', (doc, why) => {
    let err: unknown
    try {
      parseImdsCredentials(doc)
    } catch (e) {
      err = e
    }
    expect(err).toMatchObject({ code: 'ERR_PROXY_CREDENTIALS_INVALID', message: expect.stringContaining(why) })
    expect((err as Error).message).not.toContain(SECRET)
  })
})
