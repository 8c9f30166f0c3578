/**
 * The EIF signature section as nitro-cli's signer writes it (image-format `eif_signer.rs`,
 * `defs/mod.rs` PcrSignature/PcrInfo; aws-nitro-enclaves-cose): a CBOR array with one
 * `{"signing_certificate": [u8...], "signature": [u8...]}` map, where both byte vectors are CBOR
 * arrays of small integers (serde's `Vec<u8>`), the certificate is the PEM file's bytes and the
 * signature is an untagged COSE_Sign1 over `PcrInfo{register_index: 0, register_value: PCR0}`
 * with protected header `{1: alg}` and an empty unprotected map. Only EC keys: P-256 → ES256,
 * P-384 → ES384, P-521 → ES512.
 * @module
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, X509Certificate, type KeyObject } from 'node:crypto'
import { decodeCbor, encodeCbor, type CborValue } from '../common/cbor.js'
import { EifError, fail } from './errors.js'
import { extendDigest } from './measure.js'

/** nitro-cli's stated maximum signature section size. */
export const MAX_SIGNATURE_SECTION = 32768

interface Alg {
  cose: number
  hash: 'sha256' | 'sha384' | 'sha512'
  /** Length of the raw r||s signature. */
  signatureBytes: number
}
const CURVES: Record<string, Alg> = {
  prime256v1: { cose: -7, hash: 'sha256', signatureBytes: 64 },
  secp384r1: { cose: -35, hash: 'sha384', signatureBytes: 96 },
  secp521r1: { cose: -36, hash: 'sha512', signatureBytes: 132 },
}
const BY_COSE = new Map(Object.values(CURVES).map((a) => [a.cose, a]))

/**
 * Node imports an EC key holding the point at infinity, then aborts the process when its
 * asymmetricKeyDetails are read; exporting it throws instead. A hostile EIF's certificate can
 * carry such a key, so the export comes first.
 */
function namedCurve(key: KeyObject): string | undefined {
  if (key.asymmetricKeyType !== 'ec') return undefined
  try {
    ;(key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' })
  } catch {
    return undefined
  }
  return key.asymmetricKeyDetails?.namedCurve
}

function curveAlg(key: KeyObject, what: string): Alg {
  const curve = namedCurve(key)
  const alg = curve === undefined ? undefined : CURVES[curve]
  if (alg === undefined) fail('ERR_EIF_SIGNING_KEY', `${what}: only EC keys on P-256, P-384 or P-521 can sign an EIF`)
  return alg
}

/** CBOR of `PcrInfo { register_index, register_value }` exactly as serde encodes it. */
export function encodePcrInfo(index: number, value: Uint8Array): Uint8Array {
  return encodeCbor(new Map<string, CborValue>([['register_index', index], ['register_value', [...value]]]) as never)
}

/** The whole signature section for one `(certificate PEM bytes, COSE_Sign1 bytes)` entry. */
export function encodeSignatureSection(certificatePem: Uint8Array, coseSign1: Uint8Array): Uint8Array {
  return encodeCbor([new Map<string, CborValue>([['signing_certificate', [...certificatePem]], ['signature', [...coseSign1]]])] as never)
}

function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array {
  return encodeCbor(['Signature1', protectedBytes, new Uint8Array(0), payload])
}

const CERT_LABELS = new Set(['CERTIFICATE', 'X509 CERTIFICATE', 'TRUSTED CERTIFICATE'])

/**
 * The certificate as nitro-cli reads it (`X509::from_pem`: the first `CERTIFICATE` or `X509
 * CERTIFICATE` block, other blocks skipped). Node's X509Certificate reads the first `CERTIFICATE`
 * or `TRUSTED CERTIFICATE` block, or else DER. They agree when the first certificate-like block is
 * a plain `CERTIFICATE`, so anything else (DER included) is refused: nitro-cli's describe-eif and
 * run-enclave could not read it, or would read another certificate.
 */
function pemCertificate(pem: Uint8Array, code: 'ERR_EIF_SIGNING_KEY' | 'ERR_EIF_SIGNATURE_MALFORMED', what: string): X509Certificate {
  const text = Buffer.from(pem.buffer, pem.byteOffset, pem.byteLength).toString('latin1')
  const label = text
    .split('\n')
    .map((l) => /^-----BEGIN (.*)-----\s*$/.exec(l)?.[1])
    .find((l) => l !== undefined && CERT_LABELS.has(l))
  if (label !== 'CERTIFICATE') fail(code, `${what} is not a PEM certificate (nitro-cli reads "-----BEGIN CERTIFICATE-----" blocks)`)
  try {
    return new X509Certificate(pem)
  } catch {
    throw new EifError(code, `${what} is not a PEM X.509 certificate`)
  }
}

export interface SigningMaterial {
  /** The certificate file's bytes, PEM, exactly as they go into the section. */
  certificatePem: Buffer
  certificate: X509Certificate
  key: KeyObject
  alg: Alg
}

/**
 * Loads a PEM certificate and PEM private key and checks they belong together. The key PEM buffer
 * is zeroed after parsing.
 */
export function loadSigningMaterial(certificatePem: Buffer, keyPem: Buffer): SigningMaterial {
  let certificate: X509Certificate
  try {
    certificate = pemCertificate(certificatePem, 'ERR_EIF_SIGNING_KEY', 'signing certificate')
  } catch (e) {
    keyPem.fill(0)
    throw e
  }
  let key: KeyObject
  try {
    key = createPrivateKey({ key: keyPem, format: 'pem' })
  } catch {
    throw new EifError('ERR_EIF_SIGNING_KEY', 'private key is not a PEM private key')
  } finally {
    keyPem.fill(0)
  }
  const alg = curveAlg(key, 'private key')
  if (curveAlg(certificate.publicKey, 'certificate').cose !== alg.cose || !certificate.checkPrivateKey(key)) {
    fail('ERR_EIF_SIGNING_KEY', 'private key does not match the signing certificate')
  }
  const m = { certificatePem, certificate, key, alg }
  // Refused here, before any ramdisk is written, when a section could exceed what readers take:
  // every PCR0 and signature byte at its widest CBOR encoding (0xff) bounds it (each certificate
  // byte takes 1 or 2 CBOR bytes: a PEM over ~16 KiB does not fit).
  const most = section(m, Buffer.alloc(48, 0xff), () => Buffer.alloc(alg.signatureBytes, 0xff)).length
  if (most > MAX_SIGNATURE_SECTION) {
    fail('ERR_EIF_TOO_LARGE', `the signature section would take up to ${most} bytes, more than ${MAX_SIGNATURE_SECTION} (is the certificate file a long chain?)`)
  }
  return m
}

/** The signature section for PCR0, with the COSE signature `signature` computes over Sig_structure. */
function section(m: SigningMaterial, pcr0: Uint8Array, signature: (toBeSigned: Uint8Array) => Uint8Array): Uint8Array {
  const protectedBytes = encodeCbor(new Map([[1, m.alg.cose]]))
  const payload = encodePcrInfo(0, pcr0)
  const cose = encodeCbor([protectedBytes, new Map(), payload, signature(sigStructure(protectedBytes, payload))])
  return encodeSignatureSection(m.certificatePem, cose)
}

/** Signs PCR0 and returns the signature section bytes. */
export function signPcr0(m: SigningMaterial, pcr0: Uint8Array): Uint8Array {
  return section(m, pcr0, (tbs) => sign(m.alg.hash, tbs, { key: m.key, dsaEncoding: 'ieee-p1363' }))
}

/** PCR8: extend(SHA384(DER of the certificate)). */
export function pcr8Of(certificate: X509Certificate): string {
  return extendDigest(createHash('sha384').update(certificate.raw).digest()).toString('hex')
}

function bytesFromUintArray(v: CborValue | undefined, what: string, max: number): Buffer {
  if (!Array.isArray(v) || v.length === 0 || v.length > max) fail('ERR_EIF_SIGNATURE_MALFORMED', `${what}: not a byte array`)
  const out = Buffer.alloc(v.length)
  for (let i = 0; i < v.length; i++) {
    const x = v[i]
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 255) fail('ERR_EIF_SIGNATURE_MALFORMED', `${what}: element ${i} is not a byte`)
    out[i] = x
  }
  return out
}

function cbor(bytes: Uint8Array, what: string): CborValue {
  try {
    return decodeCbor(bytes, { maxDepth: 4, maxItems: 2 * MAX_SIGNATURE_SECTION, maxBytes: MAX_SIGNATURE_SECTION })
  } catch (e) {
    throw new EifError('ERR_EIF_SIGNATURE_MALFORMED', `${what}: ${(e as Error).message}`, { cause: e })
  }
}

function onlyKeys(m: CborValue, keys: Array<string | number>, what: string): Map<string | number, CborValue> {
  if (!(m instanceof Map) || m.size !== keys.length || !keys.every((k) => m.has(k))) fail('ERR_EIF_SIGNATURE_MALFORMED', `${what}: expected exactly the keys ${keys.join(', ')}`)
  return m as Map<string | number, CborValue>
}

export interface SignatureInfo {
  certificatePem: Buffer
  certificate: X509Certificate
  pcr8: string
  /** True when the COSE signature verifies with the certificate's key and signs this PCR0. */
  valid: boolean
}

/**
 * Parses a signature section strictly and checks it against `pcr0` (raw 48 bytes). Malformed
 * sections throw `ERR_EIF_SIGNATURE_MALFORMED`; a well-formed section that does not verify
 * returns `valid: false`.
 */
export function checkSignatureSection(section: Uint8Array, pcr0: Uint8Array): SignatureInfo {
  const top = cbor(section, 'signature section')
  if (!Array.isArray(top) || top.length !== 1) fail('ERR_EIF_SIGNATURE_MALFORMED', 'signature section must hold exactly one PcrSignature')
  const entry = onlyKeys(top[0], ['signing_certificate', 'signature'], 'PcrSignature')
  const certificatePem = bytesFromUintArray(entry.get('signing_certificate'), 'signing_certificate', MAX_SIGNATURE_SECTION)
  const coseBytes = bytesFromUintArray(entry.get('signature'), 'signature', MAX_SIGNATURE_SECTION)
  const certificate = pemCertificate(certificatePem, 'ERR_EIF_SIGNATURE_MALFORMED', 'signing_certificate')
  const cose = cbor(coseBytes, 'COSE_Sign1')
  if (!Array.isArray(cose) || cose.length !== 4) fail('ERR_EIF_SIGNATURE_MALFORMED', 'COSE_Sign1 must be an untagged array of 4')
  const [prot, unprot, payload, sig] = cose
  if (!(prot instanceof Uint8Array) || !(payload instanceof Uint8Array) || !(sig instanceof Uint8Array)) fail('ERR_EIF_SIGNATURE_MALFORMED', 'COSE_Sign1 fields have the wrong types')
  if (!(unprot instanceof Map)) fail('ERR_EIF_SIGNATURE_MALFORMED', 'COSE_Sign1 unprotected header is not a map')
  const alg = onlyKeys(cbor(prot, 'COSE protected header'), [1], 'COSE protected header').get(1)
  const a = typeof alg === 'number' ? BY_COSE.get(alg) : undefined
  if (a === undefined) fail('ERR_EIF_SIGNATURE_MALFORMED', `COSE algorithm ${String(alg)} is not ES256/ES384/ES512`)
  const pcr8 = pcr8Of(certificate)
  let valid = false
  try {
    valid =
      curveAlg(certificate.publicKey, 'certificate').cose === a.cose &&
      verify(a.hash, sigStructure(prot, payload), { key: certificate.publicKey, dsaEncoding: 'ieee-p1363' }, sig) &&
      Buffer.from(payload).equals(Buffer.from(encodePcrInfo(0, pcr0)))
  } catch {
    valid = false
  }
  return { certificatePem, certificate, pcr8, valid }
}

/** OpenSSL's long names (what `OBJ_obj2txt` prints) of the usual signature algorithms. */
const SIG_ALGS: Record<string, string> = {
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10045.4.3.1': 'ecdsa-with-SHA224',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'rsassaPss',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.113549.1.1.14': 'sha224WithRSAEncryption',
  '1.3.101.112': 'ED25519',
  '1.3.101.113': 'ED448',
}

/** OpenSSL's long names of name attributes; describe-eif keys IssuerName with them. */
const NAME_ATTRS: Record<string, string> = {
  '2.5.4.3': 'commonName',
  '2.5.4.4': 'surname',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'countryName',
  '2.5.4.7': 'localityName',
  '2.5.4.8': 'stateOrProvinceName',
  '2.5.4.9': 'streetAddress',
  '2.5.4.10': 'organizationName',
  '2.5.4.11': 'organizationalUnitName',
  '2.5.4.12': 'title',
  '2.5.4.13': 'description',
  '2.5.4.15': 'businessCategory',
  '2.5.4.17': 'postalCode',
  '2.5.4.41': 'name',
  '2.5.4.42': 'givenName',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.72': 'role',
  '2.5.4.97': 'organizationIdentifier',
  '0.9.2342.19200300.100.1.1': 'userId',
  '0.9.2342.19200300.100.1.25': 'domainComponent',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionLocalityName',
  '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionStateOrProvinceName',
  '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionCountryName',
}

/**
 * describe-eif's `SigningCertificate` (image-format `get_certificate_info`): IssuerName maps each
 * issuer attribute's OpenSSL long name (or dotted OID) to `format!("{:?}", value)` with the quotes
 * removed; Algorithm is the signature algorithm's long name; NotBefore/NotAfter are
 * `ASN1_TIME_print` (as Node's validFrom/validTo); Signature is the signature bytes as `XX:XX:...`.
 */
export function certificateSummary(cert: X509Certificate): { IssuerName: Record<string, string>; Algorithm: string; NotBefore: string; NotAfter: string; Signature: string } {
  let issuer: Record<string, string> = {}
  let algorithm = 'unknown'
  let signature = ''
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm SEQUENCE { OID, ... }, BIT STRING }
  const der = cert.raw
  const outer = tlv(der, 0)
  if (outer !== null && outer.tag === 0x30) {
    const tbs = tlv(der, outer.start)
    if (tbs !== null && tbs.tag === 0x30) issuer = issuerName(der, tbs)
    const alg = tbs === null ? null : tlv(der, tbs.end)
    const oid = alg === null || alg.tag !== 0x30 ? null : tlv(der, alg.start)
    if (oid !== null && oid.tag === 0x06) {
      const dotted = oidToString(der.subarray(oid.start, oid.end))
      algorithm = SIG_ALGS[dotted] ?? dotted
    }
    const bits = alg === null ? null : tlv(der, alg.end)
    if (bits !== null && bits.tag === 0x03 && bits.end > bits.start) {
      signature = der.subarray(bits.start + 1, bits.end).toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:')
    }
  }
  return { IssuerName: issuer, Algorithm: algorithm, NotBefore: cert.validFrom, NotAfter: cert.validTo, Signature: signature }
}

/** TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer Name, ... } */
function issuerName(der: Buffer, tbs: { start: number; end: number }): Record<string, string> {
  let t = tlv(der, tbs.start)
  if (t !== null && t.tag === 0xa0) t = tlv(der, t.end)
  const sigAlg = t === null || t.tag !== 0x02 ? null : tlv(der, t.end)
  const name = sigAlg === null || sigAlg.tag !== 0x30 ? null : tlv(der, sigAlg.end)
  if (name === null || name.tag !== 0x30 || name.end > tbs.end) return {}
  // a BTreeMap: a repeated attribute keeps its last value; keys come out sorted
  const out = new Map<string, string>()
  for (let p = name.start; p < name.end; ) {
    const rdn = tlv(der, p)
    if (rdn === null || rdn.tag !== 0x31 || rdn.end > name.end) return {}
    for (let q = rdn.start; q < rdn.end; ) {
      const atv = tlv(der, q)
      const oid = atv === null || atv.tag !== 0x30 || atv.end > rdn.end ? null : tlv(der, atv.start)
      const value = oid === null || oid.tag !== 0x06 ? null : tlv(der, oid.end)
      if (atv === null || oid === null || value === null || value.end > atv.end) return {}
      const dotted = oidToString(der.subarray(oid.start, oid.end))
      out.set(NAME_ATTRS[dotted] ?? dotted, rustDebugUnquoted(asn1StringToUtf8(value.tag, der.subarray(value.start, value.end))))
      q = atv.end
    }
    p = rdn.end
  }
  return Object.fromEntries([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/**
 * OpenSSL's `ASN1_STRING_to_UTF8` as rust-openssl's `as_utf8` sees it: one-byte string types as
 * Latin-1, BMPString as UTF-16BE, UniversalString as UTF-32BE, UTF8String checked; cut at a NUL
 * (the result is read as a C string); `null` ("error" in nitro-cli) for anything else.
 */
function asn1StringToUtf8(tag: number, b: Buffer): string | null {
  let s: string
  if (tag === 0x0c) {
    try {
      s = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(b)
    } catch {
      return null
    }
  } else if ([0x12, 0x13, 0x14, 0x16, 0x17, 0x18, 0x1a].includes(tag)) {
    s = b.toString('latin1')
  } else if (tag === 0x1e && b.length % 2 === 0) {
    s = String.fromCharCode(...Array.from({ length: b.length / 2 }, (_, i) => b.readUInt16BE(2 * i)))
  } else if (tag === 0x1c && b.length % 4 === 0) {
    const cps = Array.from({ length: b.length / 4 }, (_, i) => b.readUInt32BE(4 * i))
    if (cps.some((c) => c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))) return null
    s = String.fromCodePoint(...cps)
  } else {
    return null
  }
  const nul = s.indexOf('\0')
  return nul < 0 ? s : s.slice(0, nul)
}

/** Rust's `{:?}` of a str (escape_debug, grapheme extenders escaped too) with every `"` then removed. */
function rustDebugUnquoted(s: string | null): string {
  if (s === null) return 'error'
  let out = ''
  for (const c of s) {
    const simple = RUST_ESCAPES[c]
    if (simple !== undefined) out += simple
    else if (c !== ' ' && RUST_UNPRINTABLE.test(c)) out += `\\u{${(c.codePointAt(0) as number).toString(16)}}`
    else out += c
  }
  return out.replaceAll('"', '')
}
const RUST_ESCAPES: Record<string, string> = { '\0': '\\0', '\t': '\\t', '\r': '\\r', '\n': '\\n', '\\': '\\\\', '"': '\\"' }
/** Not `is_printable` in Rust's core::unicode (categories Cc Cf Cs Co Cn Zl Zp Zs but ' '), or a grapheme extender. */
const RUST_UNPRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}\p{Grapheme_Extend}]$/u

/** One DER TLV at `off` (definite lengths up to 4 bytes), or null when it does not fit. */
function tlv(b: Buffer, off: number): { tag: number; start: number; end: number } | null {
  if (off + 2 > b.length) return null
  const tag = b[off]
  let len = b[off + 1]
  let start = off + 2
  if (len & 0x80) {
    const n = len & 0x7f
    if (n === 0 || n > 4 || start + n > b.length) return null
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + b[start + i]
    start += n
  }
  return start + len > b.length ? null : { tag, start, end: start + len }
}

function oidToString(b: Buffer): string {
  const arcs: number[] = []
  let v = 0
  for (const x of b) {
    v = v * 128 + (x & 0x7f)
    if ((x & 0x80) === 0) {
      arcs.push(v)
      v = 0
    }
  }
  if (arcs.length === 0) return ''
  // the first subidentifier holds two arcs: 40 * a + b, with a in 0..2
  const first = arcs[0] < 80 ? Math.floor(arcs[0] / 40) : 2
  return [first, arcs[0] - 40 * first, ...arcs.slice(1)].join('.')
}
