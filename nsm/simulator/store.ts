/**
 * The simulator's directory, so other processes (a verifier, kms-local) can trust its root:
 *
 *   simulator.json         identity, debug flag, boot PCR values
 *   <level>.pem            certificate (root.pem is the trust anchor to hand out)
 *   <level>.key            PKCS#8 private key, mode 0600 (refused if group/other can read it)
 *
 * for level in root, regional, zonal, instance, leaf. The directory is created 0700; one that
 * group or others can write is refused (by init and by open), since whoever can write it can
 * replace root.pem, the anchor other processes trust, together with the keys. Renewed
 * certificates replace their files atomically (write a 0600 temp file, then rename).
 * @module
 */
import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto'
import { constants as fsc } from 'node:fs'
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { readRegularFile } from '../../common/files.js'
import { EC_ALGORITHM, LEVELS, issue, x509, type CaLevel, type Identity, type Issued } from './ca.js'
import type { Chain } from './chain.js'
import { NsmSimulatorStateError } from '../errors.js'

export const CONFIG_FILE = 'simulator.json'
export const CONFIG_FORMAT = 'nitro-recipient-nsm-simulator/1'
const MAX_FILE = 64 * 1024
const crypto = webcrypto

/** PCRs the platform sets at boot and the user may choose (image, kernel, application, signer). */
export const SETTABLE_PCRS = [0, 1, 2, 8] as const
export type SettablePcr = (typeof SETTABLE_PCRS)[number]

export interface SimulatorConfig {
  identity: Identity
  debug: boolean
  /** Hex (96 digits) boot values for the settable PCRs that were given. */
  pcrs: Partial<Record<SettablePcr, string>>
}

export const certFile = (level: CaLevel): string => `${level}.pem`
export const keyFile = (level: CaLevel): string => `${level}.key`

function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64')
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`
}

async function writeAtomic(dir: string, name: string, data: string, exclusive: boolean): Promise<void> {
  const target = join(dir, name)
  const tmp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    if (exclusive) {
      // init must not overwrite anything: fail if the target already exists
      const probe = await open(target, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600)
      await probe.close()
    }
    await rename(tmp, target)
  } catch (e) {
    await unlink(tmp).catch(() => undefined)
    throw e
  }
}

async function writeIssued(dir: string, issued: Issued, exclusive: boolean): Promise<void> {
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', issued.privateKey))
  try {
    await writeAtomic(dir, keyFile(issued.level), pem('PRIVATE KEY', pkcs8), exclusive)
  } finally {
    pkcs8.fill(0)
  }
  await writeAtomic(dir, certFile(issued.level), pem('CERTIFICATE', issued.der), exclusive)
}

/** Refuses a directory that group or others can write (see the module comment). */
async function checkDirectory(dir: string): Promise<void> {
  let st
  try {
    st = await stat(dir)
  } catch (e) {
    throw new NsmSimulatorStateError(`cannot read the simulator directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e })
  }
  if (!st.isDirectory()) throw new NsmSimulatorStateError(`${dir} is not a directory`)
  if ((st.mode & 0o022) !== 0) {
    throw new NsmSimulatorStateError(
      `${dir} is writable by group or others (mode ${(st.mode & 0o7777).toString(8)}): they could replace root.pem and the keys; chmod 700 it or use a new directory`,
    )
  }
}

/** fs failures while writing the directory become typed errors naming the path and errno. */
async function writing<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (e) {
    if (e instanceof NsmSimulatorStateError) throw e
    const code = (e as NodeJS.ErrnoException).code ?? 'error'
    const hint = code === 'EEXIST' ? ' (a previous init left files behind: use an empty directory)' : ''
    throw new NsmSimulatorStateError(`cannot write the simulator directory ${dir}: ${code}${hint}`, { cause: e })
  }
}

/** Creates the directory (0700) and writes a new simulator into it; refuses an initialised one. */
export async function writeNewStore(dir: string, config: SimulatorConfig, chain: Chain): Promise<void> {
  await writing(dir, async () => {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await checkDirectory(dir)
    const existing = await stat(join(dir, CONFIG_FILE)).catch(() => null)
    if (existing !== null) throw new NsmSimulatorStateError(`${dir} already holds a simulator (${CONFIG_FILE} exists)`)
    for (const level of LEVELS) await writeIssued(dir, chain[level], true)
    await writeAtomic(dir, CONFIG_FILE, `${JSON.stringify({ format: CONFIG_FORMAT, ...config }, null, 2)}\n`, true)
  })
}

/** Persists renewed certificates and keys. */
export async function saveRenewed(dir: string, renewed: Issued[]): Promise<void> {
  await writing(dir, async () => {
    for (const issued of renewed) await writeIssued(dir, issued, false)
  })
}

/** A simulator file, bounded; a key (`secret`) must be readable by its owner only (common/files). */
function readBounded(path: string, secret: boolean): Promise<Buffer> {
  return readRegularFile(path, MAX_FILE, (why, cause) => new NsmSimulatorStateError(`${path}: ${why}`, { cause }), { ownerOnly: secret })
}

const HEX16 = /^[0-9a-f]{16}$/
const HEX96 = /^[0-9a-f]{96}$/

/** Strict reading of simulator.json: exact keys and formats. */
export function parseConfig(text: string, where: string): SimulatorConfig {
  const fail = (why: string): never => {
    throw new NsmSimulatorStateError(`${where}: ${why}`)
  }
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return fail('not JSON')
  }
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)
  if (!isObj(v)) return fail('not an object')
  const keys = Object.keys(v).sort().join(',')
  if (keys !== 'debug,format,identity,pcrs') fail(`unexpected keys ${keys}`)
  if (v.format !== CONFIG_FORMAT) fail(`format is not ${CONFIG_FORMAT}`)
  if (typeof v.debug !== 'boolean') fail('debug is not a boolean')
  const id = v.identity
  if (!isObj(id) || Object.keys(id).sort().join(',') !== 'enclaveId,instanceId,region,regionalId,zonalId') return fail('identity has unexpected keys')
  if (typeof id.region !== 'string' || !/^[a-z0-9-]{1,32}$/.test(id.region)) fail('identity.region is invalid')
  if (typeof id.instanceId !== 'string' || !/^i-[0-9a-f]{17}$/.test(id.instanceId)) fail('identity.instanceId is invalid')
  for (const k of ['enclaveId', 'regionalId', 'zonalId'] as const) {
    if (typeof id[k] !== 'string' || !HEX16.test(id[k])) fail(`identity.${k} is not 16 hex digits`)
  }
  const pcrs = v.pcrs
  if (!isObj(pcrs)) return fail('pcrs is not an object')
  const out: Partial<Record<SettablePcr, string>> = {}
  for (const [k, x] of Object.entries(pcrs)) {
    const n = Number(k)
    if (!(SETTABLE_PCRS as readonly number[]).includes(n) || String(n) !== k) fail(`pcrs.${k}: only ${SETTABLE_PCRS.join('/')} are settable`)
    if (typeof x !== 'string' || !HEX96.test(x)) fail(`pcrs.${k} is not 96 lower-case hex digits`)
    out[n as SettablePcr] = x as string
  }
  return { identity: id as unknown as Identity, debug: v.debug as boolean, pcrs: out }
}

/** A level's certificate and key; `null` when the key belongs to another certificate. */
async function loadIssued(dir: string, level: CaLevel): Promise<Issued | null> {
  const certPem = (await readBounded(join(dir, certFile(level)), false)).toString('utf8')
  const keyPem = await readBounded(join(dir, keyFile(level)), true)
  let cert: x509.X509Certificate
  try {
    cert = new x509.X509Certificate(certPem)
  } catch (e) {
    throw new NsmSimulatorStateError(`${certFile(level)} is not a certificate`, { cause: e })
  }
  const spki = Buffer.from(cert.publicKey.rawData)
  let pkcs8: Buffer | undefined
  try {
    const priv = createPrivateKey({ key: keyPem, format: 'pem' })
    if (!createPublicKey(priv).export({ type: 'spki', format: 'der' }).equals(spki)) return null
    pkcs8 = priv.export({ type: 'pkcs8', format: 'der' })
    const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, EC_ALGORITHM, true, ['sign'])
    const publicKey = await crypto.subtle.importKey('spki', spki, EC_ALGORITHM, true, ['verify'])
    return { level, cert, der: new Uint8Array(cert.rawData), privateKey, publicKey }
  } catch (e) {
    if (e instanceof NsmSimulatorStateError) throw e
    throw new NsmSimulatorStateError(`${keyFile(level)} is not a P-384 private key`, { cause: e })
  } finally {
    pkcs8?.fill(0)
    keyPem.fill(0)
  }
}

/**
 * Reads and checks a simulator directory: config, every key matching its certificate, every link
 * signed by its parent. A renewal replaces its files one at a time, so a crash, or a second
 * process renewing the same directory, can leave a level whose key or issuer belongs to another
 * generation than its neighbours: everything from that level down is then re-issued by the last
 * consistent CA at `now`, as a renewal would, and saved (`repaired` names the levels). The root
 * is never replaced (other processes trust it): a broken root is an error.
 */
export async function readStore(dir: string, now: Date = new Date()): Promise<{ config: SimulatorConfig; chain: Chain; repaired: CaLevel[] }> {
  await checkDirectory(dir)
  const config = parseConfig((await readBounded(join(dir, CONFIG_FILE), false)).toString('utf8'), join(dir, CONFIG_FILE))
  const chain: Partial<Chain> = {}
  let parent: Issued | null = null
  for (const [i, level] of LEVELS.entries()) {
    const issued = await loadIssued(dir, level)
    const signer = parent ?? issued
    const linked =
      issued !== null &&
      signer !== null &&
      issued.cert.issuer === signer.cert.subject &&
      (await issued.cert.verify({ publicKey: signer.publicKey, signatureOnly: true }, crypto).catch(() => false))
    if (!linked) {
      if (parent === null) {
        throw new NsmSimulatorStateError(issued === null ? `${keyFile(level)} does not belong to ${certFile(level)}` : `${certFile(level)} is not self-signed`)
      }
      const renewed: Issued[] = []
      for (const l of LEVELS.slice(i)) {
        parent = await issue(l, config.identity, parent, now)
        chain[l] = parent
        renewed.push(parent)
      }
      await saveRenewed(dir, renewed)
      return { config, chain: chain as Chain, repaired: renewed.map((r) => r.level) }
    }
    chain[level] = issued
    parent = issued
  }
  return { config, chain: chain as Chain, repaired: [] }
}
