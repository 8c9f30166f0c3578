/**
 * Strict parsing of the X.509 certificates in an attestation document's chain. Only what AWS
 * issues is accepted: v3, ecdsa-with-SHA384 signatures, P-384 keys, DER throughout, no unique
 * IDs, no duplicate extensions, and no critical extension other than basicConstraints and
 * keyUsage (the two this verifier enforces). Everything else about the chain (links, constraints,
 * validity) is checked in chain.ts.
 * @module
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto'
import { DerReader, TAG, oidToString, type Fail, type Tlv } from './der.js'
import { CertificateError } from './errors.js'

/** keyUsage bits as a mask over the first two BIT STRING bytes (bit 0 = 0x8000). */
export const KU_DIGITAL_SIGNATURE = 0x8000
export const KU_KEY_CERT_SIGN = 0x0400

/** A certificate as the chain checks need it. Immutable; shared through the cache. */
export interface ParsedCertificate {
  /** The DER encoding (a private copy). */
  readonly der: Uint8Array
  /** Hex SHA-256 of `der`: the cache key and the fingerprint. */
  readonly sha256: string
  /** The signed TBSCertificate bytes. */
  readonly tbs: Uint8Array
  /** ECDSA-Sig-Value (DER) over `tbs`. */
  readonly signature: Uint8Array
  readonly serialHex: string
  /** DER of the issuer and subject Names, compared byte for byte. */
  readonly issuer: Uint8Array
  readonly subject: Uint8Array
  /** Validity bounds in ms since the epoch (certificate times have 1 s resolution). */
  readonly notBefore: number
  readonly notAfter: number
  readonly publicKey: KeyObject
  /** basicConstraints: undefined when absent. */
  readonly basicConstraints: { readonly critical: boolean; readonly ca: boolean; readonly pathLen: number | undefined } | undefined
  /** keyUsage mask (KU_* constants), undefined when absent. */
  readonly keyUsage: number | undefined
}

// AlgorithmIdentifier ecdsa-with-SHA384 (1.2.840.10045.4.3.3), parameters absent (RFC 5758 §3.2).
const ECDSA_SHA384 = Buffer.from('300a06082a8648ce3d040303', 'hex')
// AlgorithmIdentifier id-ecPublicKey (1.2.840.10045.2.1) with namedCurve secp384r1 (1.3.132.0.34).
const EC_P384 = Buffer.from('301006072a8648ce3d020106052b81040022', 'hex')

const OID_BASIC_CONSTRAINTS = '2.5.29.19'
const OID_KEY_USAGE = '2.5.29.15'

/** Parses `der` (certificate at chain position `index`, root = 0) or throws CertificateError. */
export function parseCertificate(der: Uint8Array, index: number): ParsedCertificate {
  const fail: Fail = (message) => {
    throw new CertificateError(index, message)
  }
  const own = new Uint8Array(der) // a private copy: the caller's buffer may change later
  const top = new DerReader(own, fail)
  const certTlv = top.read(TAG.SEQUENCE, 'Certificate')
  top.finish('Certificate')
  const cert = top.inner(certTlv)
  const tbsTlv = cert.read(TAG.SEQUENCE, 'TBSCertificate')
  const sigAlg = cert.read(TAG.SEQUENCE, 'signatureAlgorithm')
  if (!equal(cert.raw(sigAlg), ECDSA_SHA384)) fail('signature algorithm is not ecdsa-with-SHA384')
  const sigBits = cert.bitString(cert.read(TAG.BIT_STRING, 'signatureValue'), 'signatureValue')
  if (sigBits.unused !== 0) fail('signatureValue has unused bits')
  checkEcdsaSig(sigBits.bits, fail)
  cert.finish('Certificate')

  const tbs = cert.inner(tbsTlv)
  const version = tbs.read(0xa0, 'version')
  const vr = tbs.inner(version)
  if (vr.smallUint(vr.read(TAG.INTEGER, 'version'), 'version') !== 2) fail('not an X.509 v3 certificate')
  vr.finish('version')
  const serial = tbs.integerBytes(tbs.read(TAG.INTEGER, 'serialNumber'), 'serialNumber')
  if (serial[0] & 0x80) fail('negative serial number')
  // RFC 5280 §4.1.2.2: at most 20 octets of value; a 21st leading zero octet is only the sign.
  if (serial.length > 21 || (serial.length === 21 && serial[0] !== 0)) fail('serial number longer than 20 octets')
  if (!equal(tbs.raw(tbs.read(TAG.SEQUENCE, 'signature')), ECDSA_SHA384)) fail('TBS signature algorithm is not ecdsa-with-SHA384')
  const issuer = tbs.read(TAG.SEQUENCE, 'issuer')
  checkName(tbs, issuer, 'issuer')
  const validity = tbs.inner(tbs.read(TAG.SEQUENCE, 'validity'))
  const notBefore = parseTime(validity, validity.read(undefined, 'notBefore'), 'notBefore')
  const notAfter = parseTime(validity, validity.read(undefined, 'notAfter'), 'notAfter')
  validity.finish('validity')
  if (notBefore > notAfter) fail('notBefore is after notAfter')
  const subject = tbs.read(TAG.SEQUENCE, 'subject')
  checkName(tbs, subject, 'subject')
  const spkiTlv = tbs.read(TAG.SEQUENCE, 'subjectPublicKeyInfo')
  const spki = tbs.inner(spkiTlv)
  if (!equal(spki.raw(spki.read(TAG.SEQUENCE, 'algorithm')), EC_P384)) fail('public key is not EC P-384')
  const point = spki.bitString(spki.read(TAG.BIT_STRING, 'subjectPublicKey'), 'subjectPublicKey')
  if (point.unused !== 0 || point.bits.length !== 97 || point.bits[0] !== 0x04) fail('public key is not an uncompressed P-384 point')
  spki.finish('subjectPublicKeyInfo')
  if (tbs.peekTag() === 0x81 || tbs.peekTag() === 0x82) fail('issuer/subject unique identifiers are not supported')
  const extsTlv = tbs.read(0xa3, 'extensions')
  tbs.finish('TBSCertificate')
  const exts = parseExtensions(tbs, extsTlv, fail)

  let publicKey: KeyObject
  try {
    // node validates that the point lies on the curve
    publicKey = createPublicKey({ key: Buffer.from(tbs.raw(spkiTlv)), format: 'der', type: 'spki' })
  } catch {
    return fail('public key is not a valid P-384 point')
  }
  return Object.freeze({
    der: own,
    sha256: createHash('sha256').update(own).digest('hex'),
    tbs: cert.raw(tbsTlv),
    signature: sigBits.bits,
    serialHex: Buffer.from(serial).toString('hex'),
    issuer: tbs.raw(issuer),
    subject: tbs.raw(subject),
    notBefore,
    notAfter,
    publicKey,
    basicConstraints: exts.basicConstraints,
    keyUsage: exts.keyUsage,
  })
}

function parseExtensions(
  tbs: DerReader,
  extsTlv: Tlv,
  fail: Fail,
): { basicConstraints: ParsedCertificate['basicConstraints']; keyUsage: number | undefined } {
  const wrapper = tbs.inner(extsTlv)
  const listTlv = wrapper.read(TAG.SEQUENCE, 'extensions')
  wrapper.finish('extensions')
  const list = wrapper.inner(listTlv)
  if (list.done) fail('empty extensions')
  const seen = new Set<string>()
  let basicConstraints: ParsedCertificate['basicConstraints']
  let keyUsage: number | undefined
  while (!list.done) {
    const ext = list.inner(list.read(TAG.SEQUENCE, 'Extension'))
    const oid = oidToString(ext.bytes(ext.read(TAG.OID, 'extnID')), fail)
    if (seen.has(oid)) fail(`duplicate extension ${oid}`)
    seen.add(oid)
    const critTlv = ext.optional(TAG.BOOLEAN, 'critical')
    let critical = false
    if (critTlv !== undefined) {
      critical = ext.boolean(critTlv, 'critical')
      if (!critical) fail(`extension ${oid}: DER forbids encoding critical=FALSE`)
    }
    const value = ext.read(TAG.OCTET_STRING, 'extnValue')
    ext.finish('Extension')
    if (oid === OID_BASIC_CONSTRAINTS) {
      const outer = ext.inner(value)
      const seq = outer.inner(outer.read(TAG.SEQUENCE, 'basicConstraints'))
      outer.finish('basicConstraints')
      let ca = false
      const caTlv = seq.optional(TAG.BOOLEAN, 'cA')
      if (caTlv !== undefined) {
        if (!seq.boolean(caTlv, 'cA')) fail('basicConstraints: DER forbids encoding cA=FALSE')
        ca = true
      }
      const plTlv = seq.optional(TAG.INTEGER, 'pathLenConstraint')
      const pathLen = plTlv === undefined ? undefined : seq.smallUint(plTlv, 'pathLenConstraint')
      seq.finish('basicConstraints')
      if (pathLen !== undefined && !ca) fail('basicConstraints: pathLenConstraint without cA')
      basicConstraints = Object.freeze({ critical, ca, pathLen })
    } else if (oid === OID_KEY_USAGE) {
      const outer = ext.inner(value)
      const bs = outer.bitString(outer.read(TAG.BIT_STRING, 'keyUsage'), 'keyUsage')
      outer.finish('keyUsage')
      // X.690 §11.2.2: a named bit list drops its trailing zero bits, so the unused-bit count is
      // exactly the last octet's trailing zeros (03 02 00 80 is BER for digitalSignature; DER is 03 02 07 80)
      const last = bs.bits[bs.bits.length - 1]
      if (bs.bits.length === 0 || bs.bits.length > 2 || last === 0 || (last & (0xff >> (7 - bs.unused))) !== 1 << bs.unused) {
        fail('keyUsage: not a DER named bit list')
      }
      keyUsage = (bs.bits[0] << 8) | (bs.bits[1] ?? 0)
    } else if (critical) {
      // RFC 5280 §4.2: a critical extension the verifier does not process must reject the certificate.
      fail(`unsupported critical extension ${oid}`)
    }
  }
  return { basicConstraints, keyUsage }
}

/**
 * Universal string types an attribute value may use (X.520 DirectoryString, plus IA5String and
 * NumericString for emailAddress, domainComponent and the like); OpenSSL refuses any other.
 */
const NAME_STRING_TAGS = new Set([0x0c, 0x12, 0x13, 0x14, 0x16, 0x1a, 0x1c, 0x1e])

/**
 * Name ::= SEQUENCE OF SET OF SEQUENCE { OID, value }, compared as bytes later. Values are
 * primitive strings (anything else, constructed contents included, went unread), and the members
 * of a multi-valued RDN are in DER SET OF order (X.690 §11.6).
 */
function checkName(r: DerReader, tlv: Tlv, what: string): void {
  const rdns = r.inner(tlv)
  while (!rdns.done) {
    const set = rdns.inner(rdns.read(TAG.SET, what))
    if (set.done) r.fail(`${what}: empty RDN`)
    let previous: Uint8Array | undefined
    while (!set.done) {
      const atvTlv = set.read(TAG.SEQUENCE, what)
      const member = set.raw(atvTlv)
      if (previous !== undefined && Buffer.compare(previous, member) > 0) r.fail(`${what}: RDN members are not in DER order`)
      previous = member
      const atv = set.inner(atvTlv)
      oidToString(atv.bytes(atv.read(TAG.OID, what)), r.fail)
      if (!NAME_STRING_TAGS.has(atv.read(undefined, what).tag)) r.fail(`${what}: attribute value is not a string`)
      atv.finish(what)
    }
  }
}

/** ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }, both positive and minimal. */
function checkEcdsaSig(sig: Uint8Array, fail: Fail): void {
  const top = new DerReader(sig, fail)
  const seq = top.inner(top.read(TAG.SEQUENCE, 'ECDSA signature'))
  top.finish('ECDSA signature')
  for (const name of ['r', 's']) {
    const v = seq.integerBytes(seq.read(TAG.INTEGER, name), name)
    if (v[0] & 0x80 || (v.length === 1 && v[0] === 0) || v.length > 49) fail(`ECDSA signature: ${name} out of range`)
  }
  seq.finish('ECDSA signature')
}

/**
 * UTCTime YYMMDDHHMMSSZ for 1950..2049 and GeneralizedTime YYYYMMDDHHMMSSZ from 2050 on, exactly
 * as RFC 5280 §4.1.2.5 prescribes; anything else (fractions, offsets, missing seconds) is rejected.
 */
function parseTime(r: DerReader, tlv: Tlv, what: string): number {
  const s = Buffer.from(r.bytes(tlv)).toString('latin1')
  let year: number
  let rest: string
  if (tlv.tag === TAG.UTC_TIME) {
    if (!/^\d{12}Z$/.test(s)) r.fail(`${what}: UTCTime is not YYMMDDHHMMSSZ`)
    const yy = Number(s.slice(0, 2))
    year = yy < 50 ? 2000 + yy : 1900 + yy
    rest = s.slice(2)
  } else if (tlv.tag === TAG.GENERALIZED_TIME) {
    if (!/^\d{14}Z$/.test(s)) r.fail(`${what}: GeneralizedTime is not YYYYMMDDHHMMSSZ`)
    year = Number(s.slice(0, 4))
    if (year < 2050) r.fail(`${what}: GeneralizedTime before 2050 (RFC 5280 requires UTCTime)`)
    rest = s.slice(4)
  } else {
    return r.fail(`${what}: not a UTCTime or GeneralizedTime`)
  }
  const [mo, d, h, mi, se] = [0, 2, 4, 6, 8].map((i) => Number(rest.slice(i, i + 2)))
  const t = Date.UTC(year, mo - 1, d, h, mi, se)
  const back = new Date(t)
  if (
    back.getUTCFullYear() !== year ||
    back.getUTCMonth() !== mo - 1 ||
    back.getUTCDate() !== d ||
    back.getUTCHours() !== h ||
    back.getUTCMinutes() !== mi ||
    back.getUTCSeconds() !== se
  ) {
    r.fail(`${what}: not a valid date and time`)
  }
  return t
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}
