// The strict X.509 reader against two independent parsers (node:crypto X509Certificate and
// pkijs; node-forge cannot read EC certificates) on every certificate of every real document.
import { X509Certificate } from 'node:crypto'
import * as pkijs from 'pkijs'
import { describe, expect, test } from 'vitest'
import { KU_DIGITAL_SIGNATURE, KU_KEY_CERT_SIGN, parseCertificate } from '../../attestation/certificate.js'
import { pemToDer } from '../../attestation/pem.js'
import { AWS_NITRO_ROOT_G1_PEM } from '../../attestation/index.js'
import { decodeCbor, type CborMap } from '../../common/cbor.js'
import { VALID } from './fixtures.js'
import { issue } from './test-ca.js'

const chains = VALID.map((fx) => {
  const payload = decodeCbor((decodeCbor(fx.bytes) as Uint8Array[])[2]) as CborMap
  return { file: fx.file, certs: [...(payload.get('cabundle') as Uint8Array[]), payload.get('certificate') as Uint8Array] }
})

describe.each(chains)('$file chain', ({ certs }) => {
  test.each(certs.map((der, i) => ({ der, i })))('certificate $i matches node:crypto and pkijs', ({ der, i }) => {
    const mine = parseCertificate(der, i)
    const node = new X509Certificate(der)
    expect(mine.notBefore).toBe(Date.parse(node.validFrom))
    expect(mine.notAfter).toBe(Date.parse(node.validTo))
    expect(mine.serialHex.replace(/^00/, '').toUpperCase()).toBe(node.serialNumber.replace(/^0+(?=.)/, '').padStart(mine.serialHex.replace(/^00/, '').length, '0'))
    expect(mine.sha256).toBe(node.fingerprint256.replaceAll(':', '').toLowerCase())
    expect(mine.publicKey.equals(node.publicKey)).toBe(true)
    const p = pkijs.Certificate.fromBER(der)
    const bcExt = p.extensions?.find((e) => e.extnID === '2.5.29.19')
    const bc = bcExt?.parsedValue as pkijs.BasicConstraints | undefined
    expect(mine.basicConstraints?.ca ?? false).toBe(bc?.cA ?? false)
    expect(mine.basicConstraints?.pathLen).toBe(bc?.pathLenConstraint as number | undefined)
    expect(mine.basicConstraints?.critical).toBe(bcExt?.critical)
    const kuExt = p.extensions?.find((e) => e.extnID === '2.5.29.15')
    const kuBits = new Uint8Array((kuExt?.parsedValue as { valueBlock: { valueHexView: Uint8Array } }).valueBlock.valueHexView)
    expect(Boolean((mine.keyUsage ?? 0) & KU_DIGITAL_SIGNATURE)).toBe(Boolean(kuBits[0] & 0x80))
    expect(Boolean((mine.keyUsage ?? 0) & KU_KEY_CERT_SIGN)).toBe(Boolean(kuBits[0] & 0x04))
    expect(Buffer.from(mine.subject).equals(Buffer.from(p.subject.toSchema().toBER()))).toBe(true)
    if (i > 0) expect(node.checkIssued(new X509Certificate(certs[i - 1]))).toBe(true)
  })
})

describe('Names', () => {
  const leaf = chains[0].certs[4]
  const country = Buffer.from('0603550406130255 53'.replace(/ /g, ''), 'hex') // countryName PrintableString "US"
  test.each([
    { tag: 0x04, what: 'OCTET STRING' },
    { tag: 0x30, what: 'SEQUENCE (constructed: its contents went unread)' },
    { tag: 0x02, what: 'INTEGER' },
  ])('an attribute value that is an $what is refused, as OpenSSL does', ({ tag }) => {
    const der = Buffer.from(leaf)
    const at = der.indexOf(country)
    expect(at).toBeGreaterThan(0)
    der[at + 5] = tag
    expect(() => parseCertificate(der, 4)).toThrow(expect.objectContaining({ code: 'ERR_ATTESTATION_CERTIFICATE_MALFORMED', message: expect.stringContaining('not a string') }))
  })
  test('a multi-valued RDN must be in DER SET OF order', async () => {
    const sorted = await issue({ cn: 'x', ca: true, name: 'C=US+O=nitro-recipient tests, CN=rdn' })
    expect(() => parseCertificate(sorted.der, 0)).not.toThrow()
    const unsorted = await issue({ cn: 'x', ca: true, name: 'O=nitro-recipient tests+C=US, CN=rdn' })
    expect(() => parseCertificate(unsorted.der, 0)).toThrow(expect.objectContaining({ message: expect.stringContaining('not in DER order') }))
  })
})

describe('keyUsage', () => {
  test('a BER (not DER) named bit list is refused: the unused-bit count must drop every trailing zero', () => {
    const leaf = chains[0].certs[4]
    const ku = Buffer.from('0603551d0f0404030206c0', 'hex') // digitalSignature, nonRepudiation: 06 c0
    const at = Buffer.from(leaf).indexOf(ku)
    expect(at).toBeGreaterThan(0)
    expect(parseCertificate(leaf, 4).keyUsage).toBe(0xc000)
    for (const unused of [0, 5]) {
      const der = Buffer.from(leaf)
      der[at + ku.length - 2] = unused // same bits, padding that keeps trailing zeros
      expect(() => parseCertificate(der, 4)).toThrow(expect.objectContaining({ message: expect.stringContaining('not a DER named bit list') }))
    }
  })
})

describe('PEM', () => {
  test('decodes the root and rejects damaged or stray text', () => {
    expect(pemToDer(AWS_NITRO_ROOT_G1_PEM)).toHaveLength(1)
    expect(pemToDer(AWS_NITRO_ROOT_G1_PEM + AWS_NITRO_ROOT_G1_PEM)).toHaveLength(2)
    expect(() => pemToDer('')).toThrow(TypeError)
    expect(() => pemToDer(`junk\n${AWS_NITRO_ROOT_G1_PEM}`)).toThrow(TypeError)
    expect(() => pemToDer(AWS_NITRO_ROOT_G1_PEM.replace('MIIC', 'M!IC'))).toThrow(TypeError)
    expect(() => pemToDer(AWS_NITRO_ROOT_G1_PEM.replace('-----END', '-----FIN'))).toThrow(TypeError)
  })
})
