import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { formatAddress, parseAddress, toAddress, VMADDR_CID_ANY, type Address } from '../../vsock-bridge/index.js'

describe('parseAddress: valid', () => {
  const cases: [string, Address][] = [
    ['vsock://any:8000', { kind: 'vsock', cid: VMADDR_CID_ANY, port: 8000 }],
    ['vsock://parent:8000', { kind: 'vsock', cid: 3, port: 8000 }],
    ['vsock://local:1', { kind: 'vsock', cid: 1, port: 1 }],
    ['vsock://16:5005', { kind: 'vsock', cid: 16, port: 5005 }],
    ['vsock://0:65535', { kind: 'vsock', cid: 0, port: 65535 }],
    ['vsock://4294967295:9000', { kind: 'vsock', cid: 0xffffffff, port: 9000 }],
    ['unix:/run/nsm.sock', { kind: 'unix', path: '/run/nsm.sock', abstract: false }],
    ['unix:./rel.sock', { kind: 'unix', path: './rel.sock', abstract: false }],
    ['unix:@nitro-nsm', { kind: 'unix', path: 'nitro-nsm', abstract: true }],
    ['unix:/tmp/\u{1f600}.sock', { kind: 'unix', path: '/tmp/\u{1f600}.sock', abstract: false }], // a surrogate pair is fine
    ['tcp://127.0.0.1:443', { kind: 'tcp', host: '127.0.0.1', port: 443 }],
    ['tcp://kms.us-east-1.amazonaws.com:443', { kind: 'tcp', host: 'kms.us-east-1.amazonaws.com', port: 443 }],
    ['tcp://localhost:1', { kind: 'tcp', host: 'localhost', port: 1 }],
    ['tcp://0x7f.example:80', { kind: 'tcp', host: '0x7f.example', port: 80 }], // a name: its last label is no number
    ['tcp://[::1]:8443', { kind: 'tcp', host: '::1', port: 8443 }],
    ['tcp://[2001:db8::7]:65535', { kind: 'tcp', host: '2001:db8::7', port: 65535 }],
  ]
  for (const [text, want] of cases) {
    it(text, () => {
      expect(parseAddress(text)).toEqual(want)
      expect(parseAddress(formatAddress(want))).toEqual(want)
    })
  }

  it('accepts port 0 only when asked (listeners)', () => {
    expect(parseAddress('tcp://127.0.0.1:0', { allowPortZero: true })).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 0 })
    expect(parseAddress('vsock://any:0', { allowPortZero: true })).toEqual({ kind: 'vsock', cid: VMADDR_CID_ANY, port: 0 })
    expect(() => parseAddress('tcp://127.0.0.1:0')).toThrow(/outside 1\.\.65535/)
  })

  it('formats canonically', () => {
    expect(formatAddress({ kind: 'vsock', cid: VMADDR_CID_ANY, port: 5 })).toBe('vsock://any:5')
    expect(formatAddress({ kind: 'vsock', cid: 3, port: 5 })).toBe('vsock://3:5')
    expect(formatAddress({ kind: 'tcp', host: '::1', port: 5 })).toBe('tcp://[::1]:5')
    expect(formatAddress({ kind: 'unix', path: 'x', abstract: true })).toBe('unix:@x')
    expect(() => formatAddress({ kind: 'unix', path: '//x', abstract: false })).toThrow(/starts with '\/\/'/)
  })
})

describe('parseAddress: rejects with ERR_ADDRESS_INVALID', () => {
  const bad: [string, RegExp][] = [
    ['', /empty address/],
    ['vsock://parent:65536', /port 65536 is outside 1\.\.65535/],
    ['vsock://parent:65979', /outside 1\.\.65535/], // the `as u16` case: must not become 443
    ['tcp://127.0.0.1:0', /outside 1\.\.65535/],
    ['tcp://127.0.0.1:99999999999999999999999', /outside 1\.\.65535/],
    ['vsock://4294967296:80', /cid is larger than 4294967295/],
    ['vsock://99999999999999:80', /cid is larger/],
    ['vsock://-1:80', /cid "-1" is not a decimal/],
    ['vsock://0x10:80', /not a decimal/],
    ['vsock://016:80', /not a decimal/],
    ['vsock://host:80', /not a decimal number or one of any, parent, local/],
    ['vsock://:80', /missing cid/],
    ['vsock://3:', /missing port/],
    ['vsock://3', /expected vsock:\/\/<cid>:<port>/],
    ['vsock://3:+80', /not a decimal/],
    ['vsock://3:080', /not a decimal/],
    ['vsock://3:8.0', /not a decimal/],
    ['vsock://3:1e3', /not a decimal/],
    ['VSOCK://3:80', /expected vsock/],
    ['tcp://host', /expected tcp:\/\/host:port/],
    ['tcp://:80', /empty host/],
    ['tcp://::1:80', /IPv6 addresses go in brackets/],
    ['tcp://[::1]80', /expected ':<port>' after ']'/],
    ['tcp://[::1:80', /missing '\]'/],
    ['tcp://[nope]:80', /not an IPv6 address/],
    ['tcp://256.1.1.1:80', /not an IPv4 address/],
    ['tcp://1.2.3:80', /not an IPv4 address/],
    // Numeric forms getaddrinfo reads as inet_aton does (all of these reach 127.0.0.1 or 1.0.0.1).
    ['tcp://0x7f.1:80', /"0x7f.1" is not an IPv4 address/],
    ['tcp://0x7f000001:80', /not an IPv4 address/],
    ['tcp://0x7F.0.0.1:80', /not an IPv4 address/],
    ['tcp://1.0x1:80', /not an IPv4 address/],
    ['tcp://127.1.:80', /not an IPv4 address/],
    ['tcp://example.123:80', /not an IPv4 address/],
    ['tcp://-bad.example:80', /not a valid host name/],
    ['tcp://a..b:80', /not a valid host name/],
    ['tcp://a_b:80', /not a valid host name/],
    ['tcp://host:80/path', /not a decimal/],
    ['tcp://user@host:80', /not a valid host name/],
    ['tcp://host :80', /whitespace or control/],
    ['unix:', /empty path/],
    ['unix:@', /empty abstract name/],
    ['unix:///tmp/x', /not unix:\/\//],
    ['unix:/tmp/a\u0000b', /whitespace or control/],
    ['unix:/tmp/\u0085x', /whitespace or control/], // C1 controls (NEL, CSI) too
    ['unix:/tmp/\u009b31mx', /whitespace or control/],
    ['unix:/tmp/\ud800.sock', /lone surrogate/], // would become /tmp/\ufffd.sock
    ['unix:@x\udc00', /lone surrogate/],
    ['unix:/tmp/\udc00\ud800', /lone surrogate/],
    [`unix:/${'a'.repeat(107)}`, /is 108 bytes, the limit is 107/],
    [`unix:@${'a'.repeat(108)}`, /name is 108 bytes/],
    ['http://example.com:80', /expected vsock:\/\/<cid>:<port>, unix:\/path/],
    ['x'.repeat(2000), /longer than 1024/],
  ]
  for (const [text, msg] of bad) {
    it(JSON.stringify(text.slice(0, 40)), () => {
      let err: unknown
      try {
        parseAddress(text)
      } catch (e) {
        err = e
      }
      expect(err).toMatchObject({ code: 'ERR_ADDRESS_INVALID', name: 'AddressError' })
      expect((err as Error).message).toMatch(msg)
    })
  }

  it('is a TypeError for a non-string', () => {
    expect(() => parseAddress(42 as unknown as string)).toThrow(TypeError)
  })

  it('re-validates Address objects', () => {
    expect(() => toAddress({ kind: 'tcp', host: '127.0.0.1', port: 70000 })).toThrow(expect.objectContaining({ code: 'ERR_ADDRESS_INVALID' }))
    expect(() => toAddress({ kind: 'vsock', cid: 2 ** 32, port: 1 })).toThrow(expect.objectContaining({ code: 'ERR_ADDRESS_INVALID' }))
    expect(() => toAddress({ kind: 'vsock', cid: 3, port: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_ADDRESS_INVALID' }))
    expect(() => toAddress({ kind: 'ftp' } as unknown as Address)).toThrow(expect.objectContaining({ code: 'ERR_ADDRESS_INVALID' }))
    // A file named "@sock" must not turn into the abstract name "sock" (which has no permissions).
    expect(() => toAddress({ kind: 'unix', path: '@sock', abstract: false })).toThrow(
      expect.objectContaining({ code: 'ERR_ADDRESS_INVALID', message: expect.stringMatching(/starts with '@'.*write \.\/@sock/) }),
    )
    expect(toAddress({ kind: 'unix', path: './@sock', abstract: false })).toEqual({ kind: 'unix', path: './@sock', abstract: false })
    expect(toAddress({ kind: 'unix', path: '@sock', abstract: true })).toEqual({ kind: 'unix', path: '@sock', abstract: true })
  })
})

describe('parseAddress: properties', () => {
  const vsock = fc.record({ kind: fc.constant('vsock' as const), cid: fc.integer({ min: 0, max: 0xffffffff }), port: fc.integer({ min: 1, max: 65535 }) })
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/)
  const host = fc.oneof(
    fc.ipV4(),
    fc.ipV6(),
    // A host name whose last label is a number would be an IPv4 address (see the rejects above).
    fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.')).filter((h) => !/(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)$/.test(h)),
  )
  const tcp = fc.record({ kind: fc.constant('tcp' as const), host, port: fc.integer({ min: 1, max: 65535 }) })
  const unix = fc.record({
    kind: fc.constant('unix' as const),
    path: fc.stringMatching(/^\/[A-Za-z0-9._-][A-Za-z0-9._/-]{0,60}$/),
    abstract: fc.boolean(),
  })

  it('format then parse is the identity', () => {
    fc.assert(
      fc.property(fc.oneof(vsock, tcp, unix), (a) => {
        expect(parseAddress(formatAddress(a))).toEqual(a)
      }),
      { numRuns: 2000 },
    )
  })

  it('any string either parses to a valid address or throws ERR_ADDRESS_INVALID', () => {
    // size 'max': fast-check's default size would stop every string at 10 characters, short of the
    // 107-byte unix limit and of most port and CID lengths.
    const prefixed = fc.tuple(
      fc.constantFrom('vsock://', 'tcp://', 'unix:', 'unix:@', ''),
      fc.string({ maxLength: 200, size: 'max' }),
      fc.string({ unit: 'binary', maxLength: 20, size: 'max' }),
    )
    fc.assert(
      fc.property(prefixed, ([p, a, b]) => {
        const s = p + a + b
        let parsed: Address
        try {
          parsed = parseAddress(s)
        } catch (e) {
          expect(e).toMatchObject({ code: 'ERR_ADDRESS_INVALID' })
          return
        }
        // Whatever parses is canonical and in range.
        expect(parseAddress(formatAddress(parsed))).toEqual(parsed)
        if (parsed.kind !== 'unix') expect(parsed.port >= 1 && parsed.port <= 65535).toBe(true)
        if (parsed.kind === 'vsock') expect(parsed.cid >= 0 && parsed.cid <= 0xffffffff).toBe(true)
      }),
      { numRuns: 5000 },
    )
  })

  it('numbers past the range are rejected, never truncated', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 65536n, max: 10n ** 30n }), (n) => {
        expect(() => parseAddress(`tcp://127.0.0.1:${n}`)).toThrow(/outside 1\.\.65535/)
        expect(() => parseAddress(`vsock://3:${n}`)).toThrow(/outside 1\.\.65535/)
      }),
    )
    fc.assert(
      fc.property(fc.bigInt({ min: 2n ** 32n, max: 10n ** 30n }), (n) => {
        expect(() => parseAddress(`vsock://${n}:80`)).toThrow(/cid is larger/)
      }),
    )
  })
})
