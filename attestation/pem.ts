/**
 * Strict PEM decoding of CERTIFICATE blocks (RFC 7468): trust anchors arrive as PEM text.
 * @module
 */

const BLOCK = /-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END CERTIFICATE-----/g
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Every CERTIFICATE block in `pem`, as DER. Throws TypeError when there is none, when a block's
 * base64 is invalid, or when text other than whitespace lies outside the blocks (a truncated or
 * concatenated-by-mistake file should not half-load).
 */
export function pemToDer(pem: string): Uint8Array[] {
  if (typeof pem !== 'string') throw new TypeError('PEM must be a string')
  const out: Uint8Array[] = []
  let last = 0
  for (const m of pem.matchAll(BLOCK)) {
    if (pem.slice(last, m.index).trim() !== '') throw new TypeError('PEM: unexpected text outside CERTIFICATE blocks')
    last = m.index + m[0].length
    const b64 = m[1].replace(/\r?\n/g, '')
    if (!BASE64.test(b64)) throw new TypeError('PEM: invalid base64 in CERTIFICATE block')
    out.push(new Uint8Array(Buffer.from(b64, 'base64')))
  }
  if (pem.slice(last).trim() !== '') throw new TypeError('PEM: unexpected text outside CERTIFICATE blocks')
  if (out.length === 0) throw new TypeError('PEM: no CERTIFICATE block')
  return out
}
