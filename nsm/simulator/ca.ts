/**
 * The simulator's development CA hierarchy, shaped like AWS's (attestation.md §1.4, checked on
 * the 2026 fixtures): root -> regional -> zonal -> instance -> leaf, P-384 keys,
 * ecdsa-with-SHA384, the same extensions in the same order with the same criticality, the same
 * name attribute order and string types, the same lifetimes (leaf 3 h 0 m 3 s).
 *
 * The names say "simulator" so that no one mistakes a development root for AWS's; a verifier
 * pinned to the AWS root rejects every simulator document.
 * @module
 */
import 'reflect-metadata'
import { randomBytes, randomUUID, webcrypto } from 'node:crypto'
type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair
import * as x509 from '@peculiar/x509'

export const LEVELS = ['root', 'regional', 'zonal', 'instance', 'leaf'] as const
export type CaLevel = (typeof LEVELS)[number]

const HOUR = 3600_000
const DAY = 24 * HOUR
/** Lifetimes observed on real chains; the leaf's 3 h 0 m 3 s is exact. */
export const LIFETIME_MS: Record<CaLevel, number> = {
  root: 30 * 365 * DAY,
  regional: 20 * DAY,
  zonal: 5 * DAY + 18 * HOUR,
  instance: DAY,
  leaf: 3 * HOUR + 3_000,
}

/**
 * Renew a certificate once less than this remains. For a CA it is the child's lifetime, so
 * every child always fits in its parent's window; for the leaf it is a few minutes, so a fresh
 * document stays verifiable for at least that long.
 */
export const RENEW_MARGIN_MS: Record<CaLevel, number> = {
  root: LIFETIME_MS.leaf,
  regional: LIFETIME_MS.zonal,
  zonal: LIFETIME_MS.instance,
  instance: LIFETIME_MS.leaf,
  leaf: 5 * 60_000,
}

export const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-384' } as const
const SIGNING = { name: 'ECDSA', hash: 'SHA-384' } as const
const crypto = webcrypto

/** Who the simulated enclave is; persisted so every process tells the same story. */
export interface Identity {
  region: string
  /** `i-` + 17 hex digits, like an EC2 instance id. */
  instanceId: string
  /** 16 hex digits: 12 of a millisecond timestamp + 4 random, as AWS's enclave ids look. */
  enclaveId: string
  /** 16 hex digits naming the regional and zonal CAs. */
  regionalId: string
  zonalId: string
}

export function newIdentity(region = 'us-east-1', now = new Date()): Identity {
  const hex = (n: number): string => randomBytes(n).toString('hex')
  return {
    region,
    instanceId: `i-0${hex(8)}`,
    enclaveId: now.getTime().toString(16).padStart(12, '0').slice(-12) + hex(2),
    regionalId: hex(8),
    zonalId: hex(8),
  }
}

/** `i-<instance>-enc<enclave id>`, the NSM's module_id format. */
export function moduleIdOf(id: Identity): string {
  return `${id.instanceId}-enc${id.enclaveId}`
}

/** One issued certificate with its key pair. */
export interface Issued {
  level: CaLevel
  cert: x509.X509Certificate
  der: Uint8Array
  privateKey: CryptoKey
  publicKey: CryptoKey
}

type Rdn = x509.JsonAttributeAndObjectValue
const C = (v: string): Rdn => ({ C: [{ printableString: v }] })
const U = (k: string, v: string): Rdn => ({ [k]: [{ utf8String: v }] })
const ORG = 'nitro-recipient'
const UNIT = 'NSM simulator'

/** Subject names with AWS's attribute order per level (the zonal CA's order is reversed at AWS too). */
export function subjectOf(level: CaLevel, id: Identity): x509.Name {
  return new x509.Name(subjectParams(level, id))
}

function subjectParams(level: CaLevel, id: Identity): x509.JsonNameParams {
  const suffix = `${id.region}.simulator.nitro-enclaves`
  switch (level) {
    case 'root':
      return [C('US'), U('O', ORG), U('OU', UNIT), U('CN', 'simulator.nitro-enclaves')]
    case 'regional':
      return [C('US'), U('O', ORG), U('OU', UNIT), U('CN', `${id.regionalId}.${suffix}`)]
    case 'zonal':
      return [U('CN', `${id.zonalId}.zonal.${suffix}`), U('OU', UNIT), U('O', ORG), C('US'), U('ST', 'WA'), U('L', 'Seattle')]
    case 'instance':
      return [C('US'), U('ST', 'Washington'), U('L', 'Seattle'), U('O', ORG), U('OU', UNIT), U('CN', `${id.instanceId}.${suffix}`)]
    case 'leaf':
      return [C('US'), U('ST', 'Washington'), U('L', 'Seattle'), U('O', ORG), U('OU', UNIT), U('CN', `${moduleIdOf(id)}.${id.region}.simulator`)]
  }
}

const CA_USAGE = x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign

/** Extensions in AWS's order, criticality and content for each level. */
async function extensionsOf(level: CaLevel, pub: CryptoKey, parent: Issued | null): Promise<x509.Extension[]> {
  const ski = (): Promise<x509.Extension> => x509.SubjectKeyIdentifierExtension.create(pub, false, crypto)
  const aki = (): Promise<x509.Extension> => x509.AuthorityKeyIdentifierExtension.create(parent!.publicKey, false, crypto)
  // .invalid (RFC 2606) so that nothing ever tries to fetch it.
  const crl = (): x509.Extension => new x509.CRLDistributionPointsExtension([`http://crl.simulator.invalid/crl/${randomUUID()}.crl`])
  switch (level) {
    case 'root':
      return [new x509.BasicConstraintsExtension(true, undefined, true), await ski(), new x509.KeyUsagesExtension(CA_USAGE, true)]
    case 'regional':
    case 'zonal':
      return [
        new x509.BasicConstraintsExtension(true, level === 'regional' ? 2 : 1, true),
        await aki(),
        await ski(),
        new x509.KeyUsagesExtension(CA_USAGE, true),
        crl(),
      ]
    case 'instance':
      return [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
        await ski(),
        await aki(),
      ]
    case 'leaf':
      return [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation, false),
      ]
  }
}

/** Serial numbers sized like AWS's: 16 random bytes, 20 for the instance CA, structured for the leaf. */
function serialOf(level: CaLevel, id: Identity, notBefore: Date): string {
  if (level === 'instance') return randomBytes(20).toString('hex')
  if (level === 'leaf') {
    // enclave id, four zero bytes, notBefore in seconds: the layout of real leaf serials
    const b = Buffer.alloc(16)
    Buffer.from(id.enclaveId, 'hex').copy(b, 0)
    b.writeUInt32BE(Math.floor(notBefore.getTime() / 1000) >>> 0, 12)
    return b.toString('hex')
  }
  return randomBytes(16).toString('hex')
}

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair
}

/** Issues the certificate of `level` at `now` (seconds precision), signed by `parent` (null: self-signed root). */
export async function issue(level: CaLevel, id: Identity, parent: Issued | null, now: Date, keys?: CryptoKeyPair): Promise<Issued> {
  if ((level === 'root') !== (parent === null)) throw new TypeError('only the root is self-signed')
  const kp = keys ?? (await generateKeyPair())
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000)
  const notAfter = new Date(notBefore.getTime() + LIFETIME_MS[level])
  const subject = subjectOf(level, id)
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialOf(level, id, notBefore),
      subject,
      issuer: parent === null ? subject : parent.cert.subjectName,
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING,
      publicKey: kp.publicKey,
      signingKey: parent === null ? kp.privateKey : parent.privateKey,
      extensions: await extensionsOf(level, kp.publicKey, parent),
    },
    crypto,
  )
  return { level, cert, der: new Uint8Array(cert.rawData), privateKey: kp.privateKey, publicKey: kp.publicKey }
}

/** True when `cert` must be replaced at `now` (see {@link RENEW_MARGIN_MS}). */
export function needsRenewal(level: CaLevel, cert: x509.X509Certificate, now: Date): boolean {
  return now.getTime() < cert.notBefore.getTime() || now.getTime() + RENEW_MARGIN_MS[level] >= cert.notAfter.getTime()
}

export { x509 }
export type { CryptoKey, CryptoKeyPair }
