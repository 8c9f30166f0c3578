// TLS ends inside the enclave: the relay (the parent) carries only ciphertext, and the
// certificate is checked against the endpoint's name, not the relay's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, listen, relay, type Listener } from '../../vsock-bridge/index.js'
import { tunnelHttpsAgent } from '../../enclave-app/transport.js'

let dir: string
let server: https.Server
let relayListener: Listener
let cert: Buffer
// a second endpoint whose certificate names localhost and one IP address
let localServer: https.Server
let localRelay: Listener
let localCert: Buffer
const seen: Buffer[] = []
const SECRET = 'the-plaintext-body-the-parent-must-not-see'

function makeCert(name: string, san: string): Buffer {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`,
    '-keyout', join(dir, `${name}.key.pem`), '-out', join(dir, `${name}.cert.pem`),
  ], { stdio: 'ignore' })
  return readFileSync(join(dir, `${name}.cert.pem`))
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'enclave-tls-'))
  cert = makeCert('kms.test', 'DNS:kms.test')
  writeFileSync(join(dir, 'key.pem'), readFileSync(join(dir, 'kms.test.key.pem')))
  server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => res.end(`echo:${Buffer.concat(chunks).toString()}`))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  // the "parent": a byte relay that records what passes through it
  relayListener = await listen(`unix:${join(dir, 'relay.sock')}`, (s) => {
    connect(`tcp://127.0.0.1:${port}`).then(
      (up) => {
        s.on('data', (c: Buffer) => seen.push(Buffer.from(c)))
        up.on('data', (c: Buffer) => seen.push(Buffer.from(c)))
        // relay() also takes both sides down when a client drops a refused handshake (a bare
        // pipe left the server side open, and afterAll's server.close() waited for it)
        void relay(s, up)
      },
      () => s.destroy(),
    )
  })
  localCert = makeCert('localhost', 'DNS:localhost,IP:192.0.2.7')
  localServer = https.createServer({ key: readFileSync(join(dir, 'localhost.key.pem')), cert: localCert }, (_req, res) => res.end('local'))
  await new Promise<void>((r) => localServer.listen(0, '127.0.0.1', r))
  const localPort = (localServer.address() as AddressInfo).port
  localRelay = await listen(`unix:${join(dir, 'local.sock')}`, (s) => {
    connect(`tcp://127.0.0.1:${localPort}`).then(
      // relay() takes both sides down when the client drops a refused handshake
      (up) => void relay(s, up),
      () => s.destroy(),
    )
  })
})

afterAll(async () => {
  await relayListener?.close()
  await localRelay?.close()
  await new Promise<void>((r) => server?.close(() => r()))
  await new Promise<void>((r) => localServer?.close(() => r()))
  rmSync(dir, { recursive: true, force: true })
})

function post(agent: https.Agent, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host, port: 443, method: 'POST', path: '/', agent }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve(Buffer.concat(chunks).toString()))
    })
    req.on('error', reject)
    req.end(SECRET)
  })
}

describe('tunnelHttpsAgent', () => {
  it('talks TLS to the endpoint through the relay; the relay sees no plaintext', async () => {
    const agent = tunnelHttpsAgent({ via: `unix:${join(dir, 'relay.sock')}`, ca: cert })
    expect(await post(agent, 'kms.test')).toBe(`echo:${SECRET}`)
    agent.destroy()
    const all = Buffer.concat(seen)
    expect(all.length).toBeGreaterThan(SECRET.length)
    expect(all.includes(Buffer.from(SECRET))).toBe(false)
    expect(all.includes(Buffer.from(`echo:`))).toBe(false)
  })

  it('rejects a certificate for another name (the relay cannot impersonate the endpoint)', async () => {
    const agent = tunnelHttpsAgent({ via: `unix:${join(dir, 'relay.sock')}`, ca: cert })
    await expect(post(agent, 'kms.us-east-1.amazonaws.com')).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
    agent.destroy()
  })

  it('checks an IP-literal endpoint against the IP, not against the relay or localhost', async () => {
    // Node falls back to 'localhost' for a stream without a host name: a certificate for localhost
    // must not pass for https://10.1.2.3 (nor for https://[::1]).
    const agent = tunnelHttpsAgent({ via: `unix:${join(dir, 'local.sock')}`, ca: localCert })
    expect(await post(agent, 'localhost')).toBe('local')
    expect(await post(agent, '192.0.2.7')).toBe('local')
    await expect(post(agent, '10.1.2.3')).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
    await expect(post(agent, '::1')).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
    agent.destroy()
  })

  it('refuses a request without a host name (typed, before any TLS)', async () => {
    const agent = tunnelHttpsAgent({ via: `unix:${join(dir, 'local.sock')}`, ca: localCert })
    const create = (agent as unknown as { createConnection: (o: object, cb: (e: Error | null) => void) => void }).createConnection
    const err = await new Promise<Error | null>((r) => create({ host: '' }, r))
    expect(err).toMatchObject({ code: 'ERR_ENCLAVE_APP_TRANSPORT' })
    agent.destroy()
  })

  it('rejects an untrusted certificate', async () => {
    const agent = tunnelHttpsAgent({ via: `unix:${join(dir, 'relay.sock')}` })
    await expect(post(agent, 'kms.test')).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
    agent.destroy()
  })

  it('keeps verifying when the environment says NODE_TLS_REJECT_UNAUTHORIZED=0', async () => {
    const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'
    try {
      const agent = tunnelHttpsAgent({ via: `unix:${join(dir, 'relay.sock')}` })
      await expect(post(agent, 'kms.test')).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
      agent.destroy()
      const named = tunnelHttpsAgent({ via: `unix:${join(dir, 'relay.sock')}`, ca: cert })
      await expect(post(named, 'kms.us-east-1.amazonaws.com')).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
      named.destroy()
    } finally {
      if (saved === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved
    }
  })

  it('passes the relay connect error through', async () => {
    const agent = tunnelHttpsAgent({ via: `unix:${join(dir, 'missing.sock')}` })
    await expect(post(agent, 'kms.test')).rejects.toMatchObject({ code: 'ENOENT' })
    agent.destroy()
  })
})
