// fast-check: random mutations of every valid real document (bit flips, truncation, splicing,
// duplication) give a result or a typed AttestationError — never any other exception.
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { AttestationError, VerificationCache, verifyAttestationSync } from '../../attestation/index.js'
import { parseCertificate } from '../../attestation/certificate.js'
import { decodeCbor, type CborMap } from '../../common/cbor.js'
import { VALID } from './fixtures.js'

type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'truncate'; at: number }
  | { op: 'splice'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; len: number }
  | { op: 'duplicate'; at: number; len: number }
  | { op: 'graft'; at: number; from: number; src: number; len: number }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('graft' as const), at: fc.nat(), from: fc.nat(), src: fc.nat(), len: fc.integer({ min: 1, max: 512 }) }),
)

function apply(doc: Uint8Array, m: Mutation): Uint8Array {
  const b = Buffer.from(doc)
  const at = m.at % (b.length + 1)
  switch (m.op) {
    case 'flip': {
      const c = Buffer.from(b)
      c[at % c.length] ^= 1 << m.bit
      return c
    }
    case 'truncate':
      return b.subarray(0, at)
    case 'splice':
      return Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)])
    case 'delete':
      return Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)])
    case 'duplicate':
      return Buffer.concat([b.subarray(0, at + m.len), b.subarray(at)])
    case 'graft': {
      // splice a slice of another real document in: structurally plausible garbage
      const other = VALID[m.src % VALID.length].bytes
      const from = m.from % other.length
      return Buffer.concat([b.subarray(0, at), other.subarray(from, from + m.len), b.subarray(at + m.len)])
    }
  }
}

describe.each(VALID)('mutations of $file', (fx) => {
  test('give a result or a typed AttestationError', () => {
    const cache = new VerificationCache()
    const at = new Date(fx.timestamp)
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        const mutated = ms.reduce(apply, fx.bytes)
        try {
          verifyAttestationSync(mutated, { at, allowDebug: true, cache })
        } catch (e) {
          if (!(e instanceof AttestationError)) throw e
          expect(e.code).toMatch(/^ERR_ATTESTATION_[A-Z_]+$/)
        }
      }),
      { numRuns: 150 },
    )
  })
})

describe('certificate parser', () => {
  const certs = VALID.flatMap((fx) => {
    const payload = decodeCbor((decodeCbor(fx.bytes) as Uint8Array[])[2]) as CborMap
    return [...(payload.get('cabundle') as Uint8Array[]), payload.get('certificate') as Uint8Array]
  })
  test('random mutations of real certificates parse or fail with a typed error', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: certs.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 2 }), (i, ms) => {
        try {
          parseCertificate(ms.reduce(apply, certs[i]), 0)
        } catch (e) {
          if (!(e instanceof AttestationError)) throw e
          expect(e.code).toBe('ERR_ATTESTATION_CERTIFICATE_MALFORMED')
        }
      }),
      { numRuns: 2000 },
    )
  })
})
