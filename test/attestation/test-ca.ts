// A test PKI and document factory: P-384 keys from WebCrypto, certificates from
// @peculiar/x509's generator, COSE_Sign1 documents signed with node:crypto. Every adversarial
// document that needs a valid signature is issued here, so the verifier sees exactly one defect.
import { KeyObject, sign, webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { CborIndefiniteMap, CborTag, encodeCbor, type CborKey, type EncodableValue } from '../../common/cbor.js'
import { sigStructure } from '../../attestation/index.js'

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair

const ALG = { name: 'ECDSA', namedCurve: 'P-384' } as const
const SIGN_ALG = { name: 'ECDSA', hash: 'SHA-384' } as const

export const T0 = Date.parse('2025-06-01T00:00:00Z')
export const HOUR = 3_600_000
/** The test documents' timestamp: 10 minutes into the leaf's 3-hour life. */
export const DOC_TIME = T0 + 10 * 60_000
export const LEAF_NOT_AFTER = T0 + 3 * HOUR + 3_000

export interface CertSpec {
  cn: string
  /** The whole subject (and self-issued issuer) name, instead of `CN=<cn>, O=..., C=US`. */
  name?: string
  ca: boolean
  pathLen?: number
  /** basicConstraints: 'critical' (default for CAs), 'noncritical', 'absent'. */
  bc?: 'critical' | 'noncritical' | 'absent'
  keyUsage?: number
  notBefore?: number
  notAfter?: number
  /** Extra extensions (e.g. an unknown critical one). */
  extra?: x509.Extension[]
}

export interface Issued {
  der: Uint8Array
  keys: CryptoKeyPair
  name: string
}

export async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair
}

let serial = 0x10
function extensions(spec: CertSpec): x509.Extension[] {
  const out: x509.Extension[] = []
  const bc = spec.bc ?? (spec.ca ? 'critical' : 'critical')
  if (bc !== 'absent') out.push(new x509.BasicConstraintsExtension(spec.ca, spec.pathLen, bc === 'critical'))
  const ku = spec.keyUsage ?? (spec.ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature : x509.KeyUsageFlags.digitalSignature)
  if (ku !== 0) out.push(new x509.KeyUsagesExtension(ku, true))
  return [...out, ...(spec.extra ?? [])]
}

/** Issues `spec` signed by `issuer` (self-signed when undefined). `signer` overrides the signing key. */
export async function issue(spec: CertSpec, issuer?: Issued, opts: { keys?: CryptoKeyPair; signer?: CryptoKey } = {}): Promise<Issued> {
  const keys = opts.keys ?? (await newKeys())
  const name = spec.name ?? `CN=${spec.cn}, O=nitro-recipient tests, C=US`
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: (serial++).toString(16).padStart(4, '0'),
    subject: name,
    issuer: issuer?.name ?? name,
    notBefore: new Date(spec.notBefore ?? T0 - 24 * HOUR),
    notAfter: new Date(spec.notAfter ?? T0 + 30 * 24 * HOUR),
    signingAlgorithm: SIGN_ALG,
    publicKey: keys.publicKey,
    signingKey: opts.signer ?? issuer?.keys.privateKey ?? keys.privateKey,
    extensions: extensions(spec),
  })
  return { der: new Uint8Array(cert.rawData), keys, name }
}

export interface TestPki {
  root: Issued
  /** cabundle: root, regional, zonal, instance (AWS's shape). */
  bundle: Issued[]
  leaf: Issued
  rootPem: string
}

/** An AWS-shaped chain: root -> regional (pathLen 2) -> zonal (1) -> instance (0) -> leaf (3 h). */
export async function buildPki(): Promise<TestPki> {
  const root = await issue({ cn: 'test-root', ca: true, notBefore: T0 - 365 * 24 * HOUR, notAfter: T0 + 3650 * 24 * HOUR })
  const regional = await issue({ cn: 'test-regional', ca: true, pathLen: 2 }, root)
  const zonal = await issue({ cn: 'test-zonal', ca: true, pathLen: 1 }, regional)
  const instance = await issue({ cn: 'test-instance', ca: true, pathLen: 0, keyUsage: x509.KeyUsageFlags.keyCertSign }, zonal)
  const leaf = await issue({ cn: 'test-enclave', ca: false, notBefore: T0, notAfter: LEAF_NOT_AFTER, keyUsage: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation }, instance)
  return { root, bundle: [root, regional, zonal, instance], leaf, rootPem: toPem(root.der) }
}

export function toPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{1,64}/g, '$&\n')
  return `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`
}

/** The payload entries in AWS's order; tests edit the map before encoding. */
export function payloadFields(pki: { bundle: { der: Uint8Array }[]; leaf: { der: Uint8Array } }, kind: 'enclave' | 'nitrotpm' = 'enclave'): Map<CborKey, EncodableValue> {
  const pcrs = new Map<CborKey, EncodableValue>()
  for (let i = 0; i < (kind === 'enclave' ? 16 : 24); i++) pcrs.set(i, new Uint8Array(48).fill(i < 5 ? i + 1 : 0))
  return new Map<CborKey, EncodableValue>([
    ['module_id', kind === 'enclave' ? 'i-0123456789abcdef0-enc0123456789abcdef' : 'i-0123456789abcdef0-tpm0000000000000000'],
    ['digest', 'SHA384'],
    ['timestamp', DOC_TIME],
    [kind === 'enclave' ? 'pcrs' : 'nitrotpm_pcrs', pcrs],
    ['certificate', pki.leaf.der],
    ['cabundle', pki.bundle.map((c) => c.der)],
    ['public_key', null],
    ['user_data', null],
    ['nonce', null],
  ])
}

export interface DocSpec {
  /** Payload bytes (overrides `fields`). */
  payload?: Uint8Array
  fields?: Map<CborKey, EncodableValue>
  /** Encode the payload map with indefinite length (current AWS output). */
  indefinite?: boolean
  protectedHeader?: Uint8Array
  unprotected?: Map<CborKey, EncodableValue>
  tag?: number
  /** Replace the signature after signing. */
  mutateSignature?: (sig: Uint8Array) => Uint8Array
}

/** An encoded payload map. */
export function encodePayload(fields: Map<CborKey, EncodableValue>, indefinite = false): Uint8Array {
  return encodeCbor(indefinite ? new CborIndefiniteMap(fields) : fields)
}

/** A COSE_Sign1 document signed by `signingKey` (normally the leaf's). */
export async function makeDoc(signingKey: CryptoKey, pki: TestPki, spec: DocSpec = {}): Promise<Uint8Array> {
  const payload = spec.payload ?? encodePayload(spec.fields ?? payloadFields(pki), spec.indefinite)
  const prot = spec.protectedHeader ?? Uint8Array.of(0xa1, 0x01, 0x38, 0x22)
  const key = KeyObject.from(signingKey)
  let sig: Uint8Array = sign('sha384', sigStructure(prot, payload), { key, dsaEncoding: 'ieee-p1363' })
  if (spec.mutateSignature) sig = spec.mutateSignature(sig)
  const arr: EncodableValue = [prot, spec.unprotected ?? new Map(), payload, sig]
  return encodeCbor(spec.tag === undefined ? arr : new CborTag(spec.tag, arr as never))
}
