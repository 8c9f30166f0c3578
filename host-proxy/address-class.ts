/**
 * Host canonicalisation and IP address classes. The relay refuses to dial a hostname that
 * resolves to a non-public address (loopback, link-local, private, ...) unless the allowlist
 * entry opts in: otherwise whoever controls DNS for an allowlisted name could point the parent's
 * relay at the instance metadata service or at a service on the parent's private network.
 * @module
 */
import { isIP } from 'node:net'

/** Where an IP address points. Anything but `public` needs an explicit allowlist entry. */
export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'reserved'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'

type Range = readonly [prefix: readonly number[], bits: number, cls: AddressClass]

// IPv4 special-purpose ranges (IANA registry, RFC 6890 and successors).
const V4: readonly Range[] = [
  [[0, 0, 0, 0], 8, 'unspecified'],
  [[10, 0, 0, 0], 8, 'private'],
  [[100, 64, 0, 0], 10, 'private'], // CGNAT
  [[127, 0, 0, 0], 8, 'loopback'],
  [[169, 254, 0, 0], 16, 'link-local'], // includes IMDS 169.254.169.254
  [[172, 16, 0, 0], 12, 'private'],
  [[192, 0, 0, 0], 24, 'reserved'],
  [[192, 0, 2, 0], 24, 'reserved'],
  [[192, 88, 99, 0], 24, 'reserved'],
  [[192, 168, 0, 0], 16, 'private'],
  [[198, 18, 0, 0], 15, 'reserved'],
  [[198, 51, 100, 0], 24, 'reserved'],
  [[203, 0, 113, 0], 24, 'reserved'],
  [[224, 0, 0, 0], 4, 'multicast'],
  [[255, 255, 255, 255], 32, 'broadcast'],
  [[240, 0, 0, 0], 4, 'reserved'],
]

// IPv6 ranges, as 16-bit groups. Prefixes embedding an IPv4 address are handled separately.
const V6: readonly Range[] = [
  [[0, 0, 0, 0, 0, 0, 0, 1], 128, 'loopback'],
  [[0, 0, 0, 0, 0, 0, 0, 0], 128, 'unspecified'],
  [[0, 0, 0, 0, 0, 0], 96, 'reserved'], // IPv4-compatible (deprecated)
  [[0x64, 0xff9b, 1], 48, 'private'], // local-use NAT64
  [[0x100, 0, 0, 0], 64, 'reserved'], // discard-only
  [[0x2001, 0], 23, 'reserved'], // IETF protocol assignments (Teredo, benchmarking, ORCHID): not globally reachable
  [[0x2001, 0xdb8], 32, 'reserved'], // documentation
  [[0x3fff], 20, 'reserved'], // documentation (RFC 9637)
  [[0xfc00], 7, 'private'], // unique local, includes IMDS fd00:ec2::254
  [[0xfe80], 10, 'link-local'],
  [[0xfec0], 10, 'private'], // site-local (deprecated)
  [[0xff00], 8, 'multicast'],
]

function matches(groups: readonly number[], prefix: readonly number[], bits: number, width: number): boolean {
  let left = bits
  for (let i = 0; left > 0; i++, left -= width) {
    const take = Math.min(width, left)
    const mask = ((1 << take) - 1) << (width - take)
    if (((groups[i] ?? 0) & mask) !== ((prefix[i] ?? 0) & mask)) return false
  }
  return true
}

function classifyV4(o: readonly number[]): AddressClass {
  for (const [p, bits, cls] of V4) if (matches(o, p, bits, 8)) return cls
  return 'public'
}

/** Eight 16-bit groups of a valid IPv6 literal (as accepted by `net.isIP`). */
function v6Groups(s: string): number[] {
  // Rewrite a trailing dotted IPv4 part (::ffff:1.2.3.4) as two hex groups first.
  const text = s.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a: string, b: string, c: string, d: string) =>
    `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`)
  const [head, rest] = text.split('::') as [string, string | undefined]
  const h = head === '' ? [] : head.split(':').map((g) => parseInt(g, 16))
  const r = rest === undefined || rest === '' ? [] : rest.split(':').map((g) => parseInt(g, 16))
  const fill = rest === undefined ? [] : new Array<number>(8 - h.length - r.length).fill(0)
  return [...h, ...fill, ...r]
}

/** The class of an IP literal; throws TypeError when `ip` is not one. */
export function classifyAddress(ip: string): AddressClass {
  const family = isIP(ip)
  if (family === 4) return classifyV4(ip.split('.').map(Number))
  if (family !== 6) throw new TypeError(`not an IP address: ${ip}`)
  const g = v6Groups(ip.toLowerCase())
  const v4of = (hi: number, lo: number): number[] => [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]
  // IPv4-mapped ::ffff:a.b.c.d and NAT64 64:ff9b::a.b.c.d reach the embedded IPv4 address.
  if (matches(g, [0, 0, 0, 0, 0, 0xffff], 96, 16) || matches(g, [0x64, 0xff9b, 0, 0, 0, 0], 96, 16)) {
    return classifyV4(v4of(g[6], g[7]))
  }
  // 6to4 2002:a.b.c.d::/48 embeds an IPv4 address too.
  if (matches(g, [0x2002], 16, 16)) {
    const inner = classifyV4(v4of(g[1], g[2]))
    if (inner !== 'public') return inner
  }
  for (const [p, bits, cls] of V6) if (matches(g, p, bits, 16)) return cls
  return 'public'
}

/** True for addresses no allowlist entry may name: unspecified, multicast, broadcast. */
export function isNeverDialable(host: string): boolean {
  if (isIP(host) === 0) return false
  const c = classifyAddress(host)
  return c === 'unspecified' || c === 'multicast' || c === 'broadcast'
}

/**
 * Canonical form of a configured host, for exact comparison: a lower-case DNS name, or an IP
 * literal as WHATWG URL serialises it (IPv6 compressed, without brackets). Returns `{error}`
 * when the text is neither. Numeric-looking names (`127.1`, `0x7f000001`) are refused because
 * getaddrinfo would read them as IPv4 addresses.
 */
export function canonicalHost(text: string): string | { error: string } {
  if (text.startsWith('[') || text.endsWith(']')) return { error: 'write IPv6 addresses without brackets' }
  if (text.includes('%')) return { error: 'IPv6 zone identifiers are not accepted' }
  const family = isIP(text)
  if (family === 4) return text
  if (family === 6) return new URL(`http://[${text}]`).hostname.slice(1, -1)
  if (!/^[\x21-\x7e]+$/.test(text)) return { error: 'hostnames must be ASCII (use the punycode xn-- form)' }
  const name = text.toLowerCase()
  if (name.length > 253) return { error: 'hostname longer than 253 characters' }
  if (name.endsWith('.')) return { error: 'write the hostname without a trailing dot' }
  const labels = name.split('.')
  for (const label of labels) {
    if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label)) {
      return { error: `not an IP address or a valid hostname (bad label ${JSON.stringify(label)})` }
    }
  }
  const last = labels[labels.length - 1]
  if (/^(?:\d+|0x[0-9a-f]*)$/.test(last)) {
    return { error: 'not a valid IPv4 address (dotted decimal, four parts) nor a hostname' }
  }
  return name
}
