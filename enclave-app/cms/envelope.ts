/**
 * Parses KMS's `CiphertextForRecipient`: a CMS ContentInfo holding EnvelopedData (RFC 5652 §3, §6),
 * pinned to the one profile KMS emits, like enclaver's `pkcs7.rs` (every field checked here is the
 * field used for decryption, so validation and use cannot drift apart):
 *
 * ```asn1
 * ContentInfo ::= SEQUENCE { contentType id-envelopedData, content [0] EXPLICIT EnvelopedData }
 * EnvelopedData ::= SEQUENCE {
 *   version 2,                       -- no originatorInfo, no unprotectedAttrs
 *   recipientInfos SET SIZE (1) OF KeyTransRecipientInfo,
 *   encryptedContentInfo EncryptedContentInfo }
 * KeyTransRecipientInfo ::= SEQUENCE {
 *   version 2,                       -- rid is subjectKeyIdentifier
 *   rid [0] IMPLICIT SubjectKeyIdentifier,
 *   keyEncryptionAlgorithm { id-RSAES-OAEP, { [0] sha256, [1] { id-mgf1, sha256 } } },  -- RFC 4055
 *   encryptedKey OCTET STRING }
 * EncryptedContentInfo ::= SEQUENCE {
 *   contentType id-data,
 *   contentEncryptionAlgorithm { aes256-CBC, IV OCTET STRING (16) },
 *   encryptedContent [0] IMPLICIT OCTET STRING }  -- primitive, or constructed chunks (joined)
 * ```
 * @module
 */
import { CLASS_CONTEXT, CLASS_UNIVERSAL, DEFAULT_BER_LIMITS, oidBytes, parseBer, type BerLimits, type BerNode } from './ber.js'
import { CmsMalformed, CmsUnsupported } from './errors.js'

const OID_ENVELOPED_DATA = oidBytes('1.2.840.113549.1.7.3')
const OID_DATA = oidBytes('1.2.840.113549.1.7.1')
const OID_RSAES_OAEP = oidBytes('1.2.840.113549.1.1.7')
const OID_MGF1 = oidBytes('1.2.840.113549.1.1.8')
const OID_SHA256 = oidBytes('2.16.840.1.101.3.4.2.1')
const OID_AES256_CBC = oidBytes('2.16.840.1.101.3.4.1.42')

const TAG_INTEGER = 2
const TAG_OCTET_STRING = 4
const TAG_NULL = 5
const TAG_OID = 6
const TAG_SEQUENCE = 16
const TAG_SET = 17

/** The fields of a parsed envelope (copies, not views into the input). */
export interface RecipientEnvelope {
  /** The KeyTransRecipientInfo subjectKeyIdentifier. Opaque: KMS does not document how it derives it. */
  subjectKeyIdentifier: Buffer
  /** The RSAES-OAEP (SHA-256, MGF1-SHA-256, empty label) wrapped content-encryption key. */
  encryptedKey: Buffer
  /** The AES-256-CBC IV (16 bytes). */
  iv: Buffer
  /** The AES-256-CBC ciphertext, chunks joined (a positive multiple of 16 bytes). */
  ciphertext: Buffer
  /** How encryptedContent was encoded: one primitive string or constructed chunks. */
  contentEncoding: 'primitive' | 'chunked'
}

/**
 * Parses and validates `CiphertextForRecipient` bytes.
 * @throws {CmsMalformed} not BER / not CMS EnvelopedData / trailing bytes
 * @throws {CmsUnsupported} CMS, but not KMS's profile (versions, algorithms, recipients)
 * @throws {CmsTooLarge} beyond the size, depth or element bounds
 */
export function parseRecipientEnvelope(ber: Uint8Array, limits: BerLimits = DEFAULT_BER_LIMITS): RecipientEnvelope {
  const root = parseBer(ber, limits)
  const [contentType, explicit] = seq(root, 'ContentInfo', 2)
  expectOid(contentType, OID_ENVELOPED_DATA, 'ContentInfo.contentType', true)
  const [env] = kids(expectTag(explicit, CLASS_CONTEXT, 0, true, 'ContentInfo.content'), 'ContentInfo.content', 1)
  const envFields = seq(env, 'EnvelopedData')
  if (envFields.length !== 3) {
    throw new CmsUnsupported(`EnvelopedData has ${envFields.length} fields; expected version, recipientInfos, encryptedContentInfo only`)
  }
  const [version, recipientInfos, eci] = envFields
  expectVersion(version, 2, 'EnvelopedData.version')
  const set = expectTag(recipientInfos, CLASS_UNIVERSAL, TAG_SET, true, 'EnvelopedData.recipientInfos')
  if (set.children!.length !== 1) throw new CmsUnsupported(`${set.children!.length} recipientInfos; expected exactly one`)
  const ktri = set.children![0]
  if (ktri.cls !== CLASS_UNIVERSAL || ktri.tag !== TAG_SEQUENCE || !ktri.constructed) {
    throw new CmsUnsupported('the recipientInfo is not a KeyTransRecipientInfo')
  }
  const [ktriVersion, rid, kea, encKey] = seq(ktri, 'KeyTransRecipientInfo', 4)
  expectVersion(ktriVersion, 2, 'KeyTransRecipientInfo.version')
  const ski = primitive(expectTag(rid, CLASS_CONTEXT, 0, false, 'KeyTransRecipientInfo.rid (subjectKeyIdentifier)'))
  if (ski.length < 1 || ski.length > 64) throw new CmsUnsupported(`subjectKeyIdentifier of ${ski.length} bytes`)
  expectOaepSha256(kea)
  const encryptedKey = primitive(expectTag(encKey, CLASS_UNIVERSAL, TAG_OCTET_STRING, false, 'encryptedKey'))
  if (encryptedKey.length === 0) throw new CmsMalformed('empty encryptedKey')

  const [eciType, cea, content] = seq(eci, 'EncryptedContentInfo', 3)
  expectOid(eciType, OID_DATA, 'EncryptedContentInfo.contentType', false)
  const [ceaOid, ivNode] = seq(cea, 'contentEncryptionAlgorithm', 2)
  expectOid(ceaOid, OID_AES256_CBC, 'contentEncryptionAlgorithm', false)
  const iv = primitive(expectTag(ivNode, CLASS_UNIVERSAL, TAG_OCTET_STRING, false, 'AES-CBC IV'))
  if (iv.length !== 16) throw new CmsMalformed(`AES-CBC IV of ${iv.length} bytes`)

  if (content.cls !== CLASS_CONTEXT || content.tag !== 0) throw new CmsMalformed('encryptedContent is not [0]')
  let ciphertext: Buffer
  let contentEncoding: RecipientEnvelope['contentEncoding']
  if (!content.constructed) {
    ciphertext = Buffer.from(content.content!)
    contentEncoding = 'primitive'
  } else {
    // Constructed OCTET STRING (X.690 §8.7.3): primitive OCTET STRING chunks, joined. No nesting.
    const parts: Uint8Array[] = []
    for (const chunk of content.children!) {
      if (chunk.cls !== CLASS_UNIVERSAL || chunk.tag !== TAG_OCTET_STRING || chunk.constructed) {
        throw new CmsMalformed('encryptedContent chunk is not a primitive OCTET STRING')
      }
      parts.push(chunk.content!)
    }
    ciphertext = Buffer.concat(parts)
    contentEncoding = 'chunked'
  }
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) {
    throw new CmsMalformed(`AES-CBC ciphertext of ${ciphertext.length} bytes is not a positive multiple of 16`)
  }
  return {
    subjectKeyIdentifier: Buffer.from(ski),
    encryptedKey: Buffer.from(encryptedKey),
    iv: Buffer.from(iv),
    ciphertext,
    contentEncoding,
  }
}

/** RSAES-OAEP-params (RFC 4055 §4.1) with SHA-256, MGF1-SHA-256 and the default (empty) label. */
function expectOaepSha256(kea: BerNode): void {
  const [oid, params] = seq(kea, 'keyEncryptionAlgorithm', 2)
  expectOid(oid, OID_RSAES_OAEP, 'keyEncryptionAlgorithm', false)
  const p = seq(params, 'RSAES-OAEP-params')
  // Absent hashFunc/maskGenFunc mean SHA-1 (RFC 4055 defaults); pSourceFunc present means a label.
  if (p.length !== 2) throw new CmsUnsupported('RSAES-OAEP-params must carry exactly hashFunc [0] and maskGenFunc [1]')
  const [hashFn] = kids(expectTag(p[0], CLASS_CONTEXT, 0, true, 'RSAES-OAEP-params.hashFunc'), 'hashFunc', 1)
  expectSha256(hashFn, 'OAEP hashFunc')
  const [mgf] = kids(expectTag(p[1], CLASS_CONTEXT, 1, true, 'RSAES-OAEP-params.maskGenFunc'), 'maskGenFunc', 1)
  const [mgfOid, mgfHash] = seq(mgf, 'maskGenFunc', 2)
  expectOid(mgfOid, OID_MGF1, 'maskGenFunc', false)
  expectSha256(mgfHash, 'MGF1 hash')
}

/** AlgorithmIdentifier sha256 with NULL or absent parameters (RFC 4055 §2.1 says accept both). */
function expectSha256(node: BerNode, what: string): void {
  const f = seq(node, what)
  if (f.length < 1 || f.length > 2) throw new CmsMalformed(`${what} AlgorithmIdentifier has ${f.length} fields`)
  expectOid(f[0], OID_SHA256, what, false)
  if (f.length === 2) {
    const n = expectTag(f[1], CLASS_UNIVERSAL, TAG_NULL, false, `${what} parameters`)
    if (n.content!.length !== 0) throw new CmsMalformed(`${what} NULL parameters with contents`)
  }
}

function seq(node: BerNode, what: string, count?: number): BerNode[] {
  expectTag(node, CLASS_UNIVERSAL, TAG_SEQUENCE, true, what)
  return kids(node, what, count)
}

function kids(node: BerNode, what: string, count?: number): BerNode[] {
  const c = node.children!
  if (count !== undefined && c.length !== count) throw new CmsMalformed(`${what} has ${c.length} elements, expected ${count}`)
  return c
}

function expectTag(node: BerNode, cls: number, tag: number, constructed: boolean, what: string): BerNode {
  if (node.cls !== cls || node.tag !== tag || node.constructed !== constructed) {
    throw new CmsMalformed(`${what}: unexpected tag at offset ${node.start}`)
  }
  return node
}

function primitive(node: BerNode): Uint8Array {
  return node.content!
}

function expectOid(node: BerNode, oid: Buffer, what: string, malformedIfOther: boolean): void {
  const v = primitive(expectTag(node, CLASS_UNIVERSAL, TAG_OID, false, what))
  if (!oid.equals(v)) {
    if (malformedIfOther) throw new CmsMalformed(`${what}: not the expected content type`)
    throw new CmsUnsupported(`${what}: algorithm or type other than KMS's profile`)
  }
}

function expectVersion(node: BerNode, version: number, what: string): void {
  const v = primitive(expectTag(node, CLASS_UNIVERSAL, TAG_INTEGER, false, what))
  if (v.length !== 1 || v[0] !== version) throw new CmsUnsupported(`${what} is not ${version}`)
}
