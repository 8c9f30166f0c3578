import { generateKeyPairSync, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseSpki } from '../../common/spki.js'

const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const der = publicKey.export({ type: 'spki', format: 'der' })
const pem = Buffer.from(publicKey.export({ type: 'spki', format: 'pem' }))

describe('parseSpki', () => {
  it('takes DER SPKI and one PEM PUBLIC KEY block, both to the same DER', () => {
    expect(parseSpki(der)?.equals(der)).toBe(true)
    expect(parseSpki(pem)?.equals(der)).toBe(true)
    expect(parseSpki(Buffer.from(pem.toString().replace(/\n/g, '\r\n')))?.equals(der)).toBe(true)
  })

  it('refuses private keys, certificates and keys node:crypto cannot use', () => {
    expect(parseSpki(Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' })))).toBeUndefined()
    expect(parseSpki(privateKey.export({ type: 'pkcs8', format: 'der' }))).toBeUndefined()
    const root = readFileSync(new URL('../fixtures/attestation/aws-nitro-root-g1.pem', import.meta.url))
    expect(new X509Certificate(root).publicKey.asymmetricKeyType).toBe('ec')
    expect(parseSpki(root)).toBeUndefined()
    // two blocks, or text around the block
    expect(parseSpki(Buffer.concat([pem, pem]))).toBeUndefined()
    expect(parseSpki(Buffer.concat([Buffer.from('junk\n'), pem]))).toBeUndefined()
    // P-384 SPKI holding the point at infinity: imported by node:crypto, unusable
    expect(parseSpki(Buffer.from('3016301006072a8648ce3d020106052b8104002203020000', 'hex'))).toBeUndefined()
    expect(parseSpki(Buffer.concat([der, Buffer.from([0])]))).toBeUndefined()
  })

  it('any bytes: a DER SPKI or undefined, never a throw (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.tuple(fc.nat(der.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, v]) => {
        const b = Buffer.from(der)
        b[i] = v
        return b
      })), (b) => {
        const r = parseSpki(b)
        expect(r === undefined || Buffer.isBuffer(r)).toBe(true)
      }),
      { numRuns: 2000 },
    )
  })
})
