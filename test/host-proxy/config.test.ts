// The strict config schema: valid forms, vsock-proxy's own file, and every kind of bad input
// rejected with ERR_PROXY_CONFIG_INVALID naming the bad field.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { readFileSync } from 'node:fs'
import { stringify } from 'yaml'
import { loadConfig, MAX_CONFIG_BYTES, parseConfig } from '../../host-proxy/config.js'
import { ConfigError } from '../../host-proxy/errors.js'
import { tempDir } from './helpers.js'

const FIXTURE = new URL('../fixtures/host-proxy/vsock-proxy.yaml', import.meta.url)

const FULL = `
allowlist:
  - {address: kms.us-east-1.amazonaws.com, port: 443}
  - {address: 169.254.169.254, port: 80}
  - {address: KMS-FIPS.us-east-1.amazonaws.com, port: 443, allow_private: true}
ip_family: ipv4
defaults: {max_connections: 100, connect_timeout_ms: 5000, idle_timeout_ms: 60000}
routes:
  - name: kms
    listen: vsock://any:8000
    target: {address: kms.us-east-1.amazonaws.com, port: 443}
  - name: kms-fips
    listen: vsock://3:8001
    target: {address: kms-fips.us-east-1.amazonaws.com, port: 443}
    ip_family: any
    max_connections: 7
credentials:
  listen: vsock://any:8002
  source: imds
  imds: {role: my-enclave-role, refresh_before_expiry_s: 600}
  authorization_token_file: /etc/nitro-recipient/token
metrics: {listen: "tcp://127.0.0.1:9464"}
shutdown_timeout_ms: 10000
dns: {min_ttl_s: 5, max_ttl_s: 60}
`

function rejects(yaml: string, path: string, message?: RegExp): void {
  let err: unknown
  try {
    parseConfig(yaml)
  } catch (e) {
    err = e
  }
  expect(err).toBeInstanceOf(ConfigError)
  expect(err).toMatchObject({ code: 'ERR_PROXY_CONFIG_INVALID', path })
  if (message) expect((err as Error).message).toMatch(message)
}

describe('host-proxy config', () => {
  it('parses a full config with defaults applied and hosts canonicalised', () => {
    const c = parseConfig(FULL)
    expect(c.allowlist).toEqual([
      { address: 'kms.us-east-1.amazonaws.com', port: 443, allowPrivate: false },
      { address: '169.254.169.254', port: 80, allowPrivate: false },
      { address: 'kms-fips.us-east-1.amazonaws.com', port: 443, allowPrivate: true },
    ])
    expect(c.routes[0]).toEqual({
      name: 'kms', listen: 'vsock://any:8000', target: { address: 'kms.us-east-1.amazonaws.com', port: 443 },
      ipFamily: 'ipv4', maxConnections: 100, connectTimeoutMs: 5000, idleTimeoutMs: 60000,
    })
    expect(c.routes[1]).toMatchObject({ ipFamily: 'any', maxConnections: 7, connectTimeoutMs: 5000 })
    expect(c.credentials).toEqual({
      listen: 'vsock://any:8002', path: '/credentials', authorizationTokenFile: '/etc/nitro-recipient/token',
      source: { kind: 'imds', endpoint: 'http://169.254.169.254', role: 'my-enclave-role', refreshBeforeExpiryMs: 600_000, timeoutMs: 2000 },
    })
    expect(c.metrics).toEqual({ listen: 'tcp://127.0.0.1:9464' })
    expect(c.dns).toEqual({ minTtlMs: 5000, maxTtlMs: 60000 })
    expect(c.shutdownTimeoutMs).toBe(10000)
  })

  it("loads vsock-proxy's shipped allowlist file unchanged", async () => {
    const c = await loadConfig(FIXTURE.pathname)
    expect(c.allowlist).toHaveLength(52)
    expect(c.allowlist[2]).toEqual({ address: 'kms.us-east-1.amazonaws.com', port: 443, allowPrivate: false })
    expect(c.routes).toEqual([])
    expect(readFileSync(FIXTURE, 'utf8')).toContain('- {address: kms-fips.us-gov-west-1.amazonaws.com, port: 443}')
  })

  it('canonicalises IPv6 literals for exact matching', () => {
    const c = parseConfig(`
allowlist: [{address: "FD00:EC2:0:0:0:0:0:254", port: 80}]
routes: [{listen: "unix:/x", target: {address: "fd00:ec2::254", port: 80}}]
`)
    expect(c.allowlist[0].address).toBe('fd00:ec2::254')
    expect(c.routes[0].name).toBe('route-0')
  })

  it('refuses ports outside 1..65535 instead of truncating them like vsock-proxy', () => {
    rejects('allowlist: [{address: kms.us-east-1.amazonaws.com, port: 65979}]', 'allowlist[0].port', /65979.*443/)
    rejects('allowlist: [{address: a.example, port: 0}]', 'allowlist[0].port', /1\.\.65535/)
    rejects('allowlist: [{address: a.example, port: -1}]', 'allowlist[0].port')
    rejects('allowlist: [{address: a.example, port: 443.5}]', 'allowlist[0].port', /integer/)
    rejects('allowlist: [{address: a.example, port: "443"}]', 'allowlist[0].port', /integer/)
    rejects('allowlist: [{address: a.example, port: 1e400}]', 'allowlist[0].port')
    rejects(`allowlist: [{address: a.example, port: 443}]
routes: [{listen: "unix:/x", target: {address: a.example, port: 70000}}]`, 'routes[0].target.port')
  })

  it('refuses unknown keys at every level, naming the path', () => {
    rejects('allowlist: []\nroute: []', 'route', /unknown key/)
    rejects('allowlist: [{address: a.example, port: 443, wildcard: true}]', 'allowlist[0].wildcard')
    rejects('defaults: {max_conections: 3}', 'defaults.max_conections')
    rejects(`allowlist: [{address: a.example, port: 443}]
routes: [{listen: "unix:/x", target: {address: a.example, port: 443, tls: true}}]`, 'routes[0].target.tls')
    rejects('credentials: {listen: "unix:/c", source: imds, imds: {rol: x}}', 'credentials.imds.rol')
    rejects('metrics: {listen: "unix:/m", path: /m}', 'metrics.path')
  })

  it('refuses a route whose target is not allowlisted, with a clear message', () => {
    rejects(`
allowlist: [{address: kms.us-east-1.amazonaws.com, port: 443}]
routes:
  - {name: evil, listen: "vsock://any:8000", target: {address: attacker.example.com, port: 443}}
`, 'routes[0].target', /route evil targets attacker\.example\.com:443, which is not in the allowlist/)
    // Same host, other port: not allowlisted either (exact host AND port).
    rejects(`
allowlist: [{address: kms.us-east-1.amazonaws.com, port: 443}]
routes: [{listen: "vsock://any:8000", target: {address: kms.us-east-1.amazonaws.com, port: 444}}]
`, 'routes[0].target')
  })

  it('refuses malformed hosts', () => {
    for (const [host, why] of [
      ['127.1', /IPv4/], ['0x7f000001', /IPv4/], ['kms.amazonaws.com.', /trailing dot/], ['[::1]', /brackets/],
      ['fe80::1%eth0', /zone/], ['-bad.example', /label/], ['a..b', /label/], ['bücher.example', /ASCII/],
      ['0.0.0.0', /never be a target/], ['224.0.0.1', /never be a target/], ['::', /never be a target/], ['255.255.255.255', /never/],
    ] as const) {
      rejects(`allowlist: [{address: "${host}", port: 443}]`, 'allowlist[0].address', why)
    }
  })

  it('refuses hostile YAML: duplicates, aliases, tags, several documents, wrong shapes', () => {
    rejects('allowlist: []\nallowlist: []', '', /unique/)
    rejects('a: &x [1]\nallowlist: *x', '', /YAML/)
    rejects('allowlist: !!binary aGVsbG8=', 'allowlist', /list/)
    rejects('allowlist: !custom []', '', /YAML/)
    rejects('allowlist: []\n---\nallowlist: []', '', /documents/)
    rejects('', '', /empty/)
    rejects('- a\n- b', '', /mapping/)
    rejects('? [a]\n: 1', '', /keys must be strings/)
    rejects('allowlist: [{address: a.example, port: 443}, {address: A.EXAMPLE, port: 443}]', 'allowlist[1]', /duplicate/)
    rejects('routes: [{listen: "unix:/x"}]', 'routes[0].target', /required/)
    rejects('allowlist: [{address: a.example, port: 1}]\nroutes: [{listen: "udp://x:1", target: {address: a.example, port: 1}}]', 'routes[0].listen')
  })

  it('finds a duplicate key at the end of a 1 MiB mapping in linear time', () => {
    // yaml's own uniqueKeys check is quadratic: on this document it ran for minutes (well past
    // the test timeout, the only bound here), blocking the event loop, and so every relay on SIGHUP.
    const keys: string[] = []
    for (let i = 0, size = 0; size < MAX_CONFIG_BYTES - 64; i++) {
      keys.push(`k${i}: 0`)
      size += keys[i].length + 2
    }
    const text = `dns: {${keys.join(', ')}, k1: 1}`
    expect(text.length).toBeLessThanOrEqual(MAX_CONFIG_BYTES)
    rejects(text, '', /Map keys must be unique \("k1" again at line 1, column \d+\)/)
    // Distinct keys: the schema refuses the first unknown one, at its path.
    rejects(`dns: {${keys.join(', ')}}`, 'dns.k0', /unknown key/)
  })

  it('property: a repeated key in any mapping, at any depth, flow or block, is refused', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/).filter((k) => !['true', 'false', 'null'].includes(k)), { minLength: 1, maxLength: 6 }),
      fc.nat(), fc.integer({ min: 0, max: 6 }), fc.boolean(), fc.constantFrom('', '"', "'"), (names, pick, depth, flow, quote) => {
        const dup = names[pick % names.length]
        const inner = [...names.map((n) => `${n}: 1`), `${quote}${dup}${quote}: 2`]
        let text = flow ? `{${inner.join(', ')}}` : inner.join('\n')
        for (let d = 0; d < depth; d++) {
          text = flow ? `{x${d}: [${text}]}` : `x${d}:\n  - ${text.split('\n').join('\n    ')}`
        }
        rejects(text, '', /Map keys must be unique/)
      }), { numRuns: 500 })
  })

  it('refuses inconsistent routes and services', () => {
    const al = 'allowlist: [{address: a.example, port: 443}, {address: 10.0.0.1, port: 443}]\n'
    rejects(`${al}routes: [{name: x, listen: "unix:/a", target: {address: a.example, port: 443}}, {name: x, listen: "unix:/b", target: {address: a.example, port: 443}}]`, 'routes[1].name', /duplicate/)
    rejects(`${al}routes: [{listen: "unix:/a", target: {address: a.example, port: 443}}]\nmetrics: {listen: "unix:/a"}`, 'metrics.listen', /already used/)
    rejects(`${al}routes: [{listen: "unix:/a", ip_family: ipv6, target: {address: 10.0.0.1, port: 443}}]`, 'routes[0].target.address', /IPv4/)
    rejects('credentials: {listen: "unix:/c", source: static}', 'credentials.static', /required/)
    rejects('credentials: {listen: "unix:/c", source: env, imds: {}}', 'credentials.imds', /source is env/)
    rejects('credentials: {listen: "unix:/c", source: imds, imds: {endpoint: "https://169.254.169.254"}}', 'credentials.imds.endpoint')
    rejects('credentials: {listen: "unix:/c", source: imds, imds: {role: "a/../b"}}', 'credentials.imds.role')
    rejects('credentials: {listen: "unix:/c", source: imds, path: "no-slash"}', 'credentials.path')
    rejects('dns: {min_ttl_s: 10, max_ttl_s: 5}', 'dns.max_ttl_s')
  })

  it('loadConfig names the file and refuses unreadable ones', async () => {
    const t = tempDir()
    try {
      await expect(loadConfig(`${t.dir}/missing.yaml`)).rejects.toMatchObject({ code: 'ERR_PROXY_CONFIG_UNREADABLE', message: expect.stringContaining('ENOENT') })
      await expect(loadConfig(t.dir)).rejects.toMatchObject({ code: 'ERR_PROXY_CONFIG_UNREADABLE' })
    } finally {
      t.cleanup()
    }
  })

  // Property: whatever YAML-shaped value arrives, parseConfig returns a config or throws a
  // ConfigError; it never throws anything else and never hangs.
  it('property: arbitrary documents are either valid or a ConfigError', () => {
    const leaf = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
      fc.constantFrom('vsock://any:8000', 'unix:/x', 'kms.us-east-1.amazonaws.com', 443, 65979, 'imds', 'static', 'env', 'ipv4'))
    const key = fc.constantFrom('allowlist', 'routes', 'address', 'port', 'listen', 'target', 'name', 'credentials', 'source',
      'imds', 'static', 'metrics', 'dns', 'defaults', 'ip_family', 'allow_private', 'max_connections', '__proto__', 'constructor', 'x')
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(key, tie('node'), { maxKeys: 5 })),
    })).node
    fc.assert(fc.property(fc.dictionary(key, value, { maxKeys: 6 }), (doc) => {
      try {
        parseConfig(stringify(doc))
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e
      }
    }), { numRuns: 2000 })
  })

  // Property: a valid config with one unknown key added anywhere is refused at exactly that path.
  it('property: one unknown key anywhere is refused with its path', () => {
    const base = () => ({
      allowlist: [{ address: 'kms.us-east-1.amazonaws.com', port: 443 }],
      routes: [{ name: 'kms', listen: 'vsock://any:8000', target: { address: 'kms.us-east-1.amazonaws.com', port: 443 } }],
      credentials: { listen: 'vsock://any:8002', source: 'imds', imds: { role: 'r' } },
      metrics: { listen: 'tcp://127.0.0.1:9464' },
      dns: { min_ttl_s: 1 },
      defaults: { idle_timeout_ms: 1000 },
    })
    const spots: [string, (d: ReturnType<typeof base>) => Record<string, unknown>][] = [
      ['', (d) => d], ['allowlist[0]', (d) => d.allowlist[0]], ['routes[0]', (d) => d.routes[0]],
      ['routes[0].target', (d) => d.routes[0].target], ['credentials', (d) => d.credentials], ['credentials.imds', (d) => d.credentials.imds],
      ['metrics', (d) => d.metrics], ['dns', (d) => d.dns], ['defaults', (d) => d.defaults],
    ]
    expect(() => parseConfig(stringify(base()))).not.toThrow()
    fc.assert(fc.property(fc.integer({ min: 0, max: spots.length - 1 }), fc.stringMatching(/^[a-z_]{1,12}$/), (i, k) => {
      const [path, pick] = spots[i]
      const d = base()
      const target = pick(d)
      fc.pre(k !== '__proto__' && !Object.hasOwn(target, k) && !['allowlist', 'routes', 'credentials', 'metrics', 'dns', 'defaults', 'ip_family', 'shutdown_timeout_ms',
        'address', 'port', 'allow_private', 'name', 'listen', 'target', 'max_connections', 'connect_timeout_ms', 'idle_timeout_ms',
        'path', 'authorization_token_file', 'source', 'imds', 'static', 'endpoint', 'role', 'refresh_before_expiry_s', 'timeout_ms',
        'min_ttl_s', 'max_ttl_s'].includes(k))
      target[k] = 1
      let err: unknown
      try {
        parseConfig(stringify(d))
      } catch (e) {
        err = e
      }
      expect(err).toMatchObject({ code: 'ERR_PROXY_CONFIG_INVALID', path: path === '' ? k : `${path}.${k}` })
    }), { numRuns: 300 })
  })
})
