// Address classes, allowlist matching and the TTL-respecting resolver (injectable lookup, clock).
import { describe, expect, it } from 'vitest'
import { classifyAddress, canonicalHost } from '../../host-proxy/address-class.js'
import { isAddressPermitted, requireAllowlisted, type AllowlistEntry } from '../../host-proxy/allowlist.js'
import { TargetResolver, type LookupFn } from '../../host-proxy/resolver.js'

const entry = (address: string, allowPrivate = false): AllowlistEntry => ({ address, port: 443, allowPrivate })

describe('address classes', () => {
  it.each([
    ['8.8.8.8', 'public'], ['52.94.0.1', 'public'], ['127.0.0.1', 'loopback'], ['127.255.0.9', 'loopback'],
    ['10.1.2.3', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'], ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'], ['100.64.0.1', 'private'], ['169.254.169.254', 'link-local'], ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'], ['224.0.0.1', 'multicast'], ['239.255.255.250', 'multicast'], ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'], ['192.0.2.1', 'reserved'], ['198.18.0.1', 'reserved'],
    ['::1', 'loopback'], ['::', 'unspecified'], ['fe80::1', 'link-local'], ['fd00:ec2::254', 'private'], ['fc00::1', 'private'],
    ['ff02::1', 'multicast'], ['2001:db8::1', 'reserved'], ['2600:1f18::1', 'public'],
    ['::ffff:127.0.0.1', 'loopback'], ['::ffff:7f00:1', 'loopback'], ['::ffff:169.254.169.254', 'link-local'], ['::ffff:8.8.8.8', 'public'],
    ['2001::1', 'reserved'], ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'], ['2001:2::1', 'reserved'], ['2001:1ff::1', 'reserved'],
    ['2001:200::1', 'public'], ['64:ff9b::a9fe:a9fe', 'link-local'], ['64:ff9b::808:808', 'public'], ['2002:a00:1::1', 'private'], ['::127.0.0.1', 'reserved'],
  ])('%s is %s', (ip, cls) => {
    expect(classifyAddress(ip)).toBe(cls)
  })

  it('canonicalises hosts for exact comparison', () => {
    expect(canonicalHost('KMS.us-east-1.AmazonAWS.com')).toBe('kms.us-east-1.amazonaws.com')
    expect(canonicalHost('FD00:0EC2::0254')).toBe('fd00:ec2::254')
    expect(canonicalHost('::ffff:1.2.3.4')).toBe('::ffff:102:304')
    expect(canonicalHost('1.2.3.4')).toBe('1.2.3.4')
    expect(canonicalHost('01.2.3.4')).toMatchObject({ error: expect.any(String) })
  })
})

describe('allowlist', () => {
  it('matches exact host and port only', () => {
    const list = [entry('kms.us-east-1.amazonaws.com')]
    expect(requireAllowlisted(list, { address: 'kms.us-east-1.amazonaws.com', port: 443 })).toBe(list[0])
    expect(() => requireAllowlisted(list, { address: 'kms.us-east-1.amazonaws.com', port: 444 })).toThrow(expect.objectContaining({ code: 'ERR_PROXY_NOT_ALLOWLISTED' }))
    expect(() => requireAllowlisted(list, { address: 'evil.kms.us-east-1.amazonaws.com', port: 443 })).toThrow(expect.objectContaining({ code: 'ERR_PROXY_NOT_ALLOWLISTED' }))
    expect(() => requireAllowlisted([], { address: 'a.example', port: 443 })).toThrow(expect.objectContaining({ code: 'ERR_PROXY_NOT_ALLOWLISTED' }))
  })

  it('permits non-public addresses only when named or opted in', () => {
    expect(isAddressPermitted(entry('kms.example'), '52.94.0.1')).toBe(true)
    expect(isAddressPermitted(entry('kms.example'), '169.254.169.254')).toBe(false)
    expect(isAddressPermitted(entry('kms.example'), '10.0.0.5')).toBe(false)
    expect(isAddressPermitted(entry('kms.example', true), '10.0.0.5')).toBe(true)
    expect(isAddressPermitted(entry('kms.example', true), '0.0.0.0')).toBe(false)
    expect(isAddressPermitted(entry('kms.example', true), '224.0.0.1')).toBe(false)
    expect(isAddressPermitted(entry('169.254.169.254'), '169.254.169.254')).toBe(true)
  })
})

describe('TargetResolver', () => {
  function fakeDns(): { lookup: LookupFn; answers: Map<string, { address: string; ttl: number }[]>; calls: string[] } {
    const answers = new Map<string, { address: string; ttl: number }[]>()
    const calls: string[] = []
    return {
      answers,
      calls,
      lookup: async (host, fam) => {
        calls.push(`${host}/${fam}`)
        const a = (answers.get(`${host}/${fam}`) ?? [])
        if (a.length === 0) throw Object.assign(new Error('ENODATA'), { code: 'ENODATA' })
        return a
      },
    }
  }

  it('caches for the record TTL, then re-resolves', async () => {
    const dns = fakeDns()
    let now = 1_000_000
    const r = new TargetResolver({ lookup: dns.lookup, now: () => now, minTtlMs: 1000, maxTtlMs: 300_000 })
    dns.answers.set('kms.example/4', [{ address: '52.94.0.1', ttl: 30 }])
    expect(await r.resolve(entry('kms.example'), 'ipv4')).toEqual(['52.94.0.1'])
    dns.answers.set('kms.example/4', [{ address: '52.94.0.2', ttl: 30 }])
    now += 29_000
    expect(await r.resolve(entry('kms.example'), 'ipv4')).toEqual(['52.94.0.1'])
    now += 1_001
    expect(await r.resolve(entry('kms.example'), 'ipv4')).toEqual(['52.94.0.2'])
    expect(dns.calls).toEqual(['kms.example/4', 'kms.example/4'])
  })

  it('clamps TTLs and shares one query among concurrent callers', async () => {
    const dns = fakeDns()
    let now = 0
    const r = new TargetResolver({ lookup: dns.lookup, now: () => now, minTtlMs: 5000, maxTtlMs: 10_000 })
    dns.answers.set('kms.example/4', [{ address: '52.94.0.1', ttl: 0 }])
    await Promise.all(Array.from({ length: 50 }, () => r.resolve(entry('kms.example'), 'ipv4')))
    expect(dns.calls).toHaveLength(1)
    now = 4999
    await r.resolve(entry('kms.example'), 'ipv4')
    expect(dns.calls).toHaveLength(1)
    now = 5000
    await r.resolve(entry('kms.example'), 'ipv4')
    expect(dns.calls).toHaveLength(2)
  })

  it('selects families: ipv4, ipv6 or both (IPv4 first)', async () => {
    const dns = fakeDns()
    dns.answers.set('kms.example/4', [{ address: '52.94.0.1', ttl: 60 }])
    dns.answers.set('kms.example/6', [{ address: '2600:1f18::1', ttl: 60 }])
    const r = new TargetResolver({ lookup: dns.lookup })
    expect(await r.resolve(entry('kms.example'), 'ipv4')).toEqual(['52.94.0.1'])
    expect(await r.resolve(entry('kms.example'), 'ipv6')).toEqual(['2600:1f18::1'])
    expect(new Set(await r.resolve(entry('kms.example'), 'any'))).toEqual(new Set(['52.94.0.1', '2600:1f18::1']))
    dns.answers.delete('kms.example/6')
    const only4 = new TargetResolver({ lookup: dns.lookup })
    expect(await only4.resolve(entry('kms.example'), 'any')).toEqual(['52.94.0.1'])
    await expect(only4.resolve(entry('kms.example'), 'ipv6')).rejects.toMatchObject({ code: 'ERR_PROXY_RESOLVE_FAILED' })
  })

  it('rotates over every permitted address and drops forbidden ones', async () => {
    const dns = fakeDns()
    dns.answers.set('alb.example/4', [{ address: '52.94.0.1', ttl: 60 }, { address: '10.0.0.1', ttl: 60 }, { address: '52.94.0.2', ttl: 60 }])
    const r = new TargetResolver({ lookup: dns.lookup })
    const firsts = new Set<string>()
    for (let i = 0; i < 4; i++) {
      const got = await r.resolve(entry('alb.example'), 'ipv4')
      expect(new Set(got)).toEqual(new Set(['52.94.0.1', '52.94.0.2']))
      firsts.add(got[0])
    }
    expect(firsts.size).toBe(2)
  })

  it('refuses a name that resolves only to forbidden addresses, and answers that are not IPs', async () => {
    const dns = fakeDns()
    dns.answers.set('rebind.example/4', [{ address: '169.254.169.254', ttl: 60 }, { address: '127.0.0.1', ttl: 60 }])
    dns.answers.set('weird.example/4', [{ address: 'not-an-ip', ttl: 60 }, { address: '::1', ttl: 60 }])
    const r = new TargetResolver({ lookup: dns.lookup })
    await expect(r.resolve(entry('rebind.example'), 'ipv4')).rejects.toMatchObject({ code: 'ERR_PROXY_ADDRESS_FORBIDDEN', message: expect.stringContaining('link-local, loopback') })
    await expect(r.resolve(entry('weird.example'), 'ipv4')).rejects.toMatchObject({ code: 'ERR_PROXY_RESOLVE_FAILED' })
  })

  it('never looks up IP literals and enforces their family', async () => {
    const dns = fakeDns()
    const r = new TargetResolver({ lookup: dns.lookup })
    expect(await r.resolve(entry('169.254.169.254'), 'any')).toEqual(['169.254.169.254'])
    await expect(r.resolve(entry('169.254.169.254'), 'ipv6')).rejects.toMatchObject({ code: 'ERR_PROXY_RESOLVE_FAILED' })
    expect(dns.calls).toEqual([])
  })
})
