/**
 * The NSM simulator: a PCR bank, a development CA chain shaped like AWS's and documents laid
 * out like real ones, behind the same {@link Attester} interface as `/dev/nsm`. It is never
 * picked silently: you construct it (`ephemeral`, `init`, `open`) or name it, and it logs a
 * warning that its documents are signed by a development CA.
 * @module
 */
import { createHash, KeyObject, randomBytes } from 'node:crypto'
import { createLogger, type Logger } from '../../common/log.js'
import { MAX_ATTESTATION_FIELD, NSM_MAX_PCRS, type AttestOptions, type Attester, type NsmDescription, type PcrDescription } from '../attester.js'
import { NsmInputTooLargeError } from '../errors.js'
import { moduleIdOf, newIdentity, type Identity } from './ca.js'
import { createChain, LiveChain } from './chain.js'
import { buildDocument } from './document.js'
import { BOOT_LOCKED_PCRS, PCR_LENGTH, PcrBank } from './pcr-bank.js'
import { readStore, saveRenewed, SETTABLE_PCRS, writeNewStore, type SettablePcr, type SimulatorConfig } from './store.js'

/** Bytes the simulator's GetRandom returns, as QEMU's virtio-nsm does. */
export const RANDOM_BYTES = 256

export interface SimulatorOptions {
  /** Boot values of PCR0/1/2/8 (48 bytes, or 96 hex digits). Ignored in debug mode. */
  pcrs?: Partial<Record<SettablePcr, Uint8Array | string>>
  /** Debug-mode enclave: PCR0..15 are all zero (AWS behaviour; KMS policies on PCRs will not match). */
  debug?: boolean
  /** Region named in the CA subjects. Default `us-east-1`. */
  region?: string
  /** Clock (tests). Default `() => new Date()`. */
  now?: () => Date
  /** Where the "this is a simulator" warning and renewals go. Default: a pino logger on stderr. */
  logger?: Logger
}

export type OpenOptions = Pick<SimulatorOptions, 'now' | 'logger'>

function pcrBytes(v: Uint8Array | string, index: number): string {
  const hex = typeof v === 'string' ? v.toLowerCase() : Buffer.from(v).toString('hex')
  if (!/^[0-9a-f]{96}$/.test(hex)) throw new RangeError(`PCR${index} must be ${PCR_LENGTH} bytes (96 hex digits)`)
  return hex
}

function configFrom(opts: SimulatorOptions, now: Date): SimulatorConfig {
  const pcrs: SimulatorConfig['pcrs'] = {}
  for (const [k, v] of Object.entries(opts.pcrs ?? {})) {
    const n = Number(k)
    if (!(SETTABLE_PCRS as readonly number[]).includes(n)) throw new RangeError(`PCR${k} is not settable (only ${SETTABLE_PCRS.join(', ')})`)
    if (v !== undefined) pcrs[n as SettablePcr] = pcrBytes(v, n)
  }
  const region = opts.region ?? 'us-east-1'
  if (!/^[a-z0-9-]{1,32}$/.test(region)) throw new RangeError('"region" must be 1..32 of [a-z0-9-]')
  return { identity: newIdentity(region, now), debug: opts.debug === true, pcrs }
}

/**
 * Boot measurements. Unset PCR0/1/2 get fixed labelled values (not zero: zero means debug mode);
 * PCR3 (IAM role) is zero; PCR4 is the instance id extended into zero, as AWS measures the
 * parent instance there; PCR8 (signing certificate) is zero unless given.
 */
export function bootPcrs(config: SimulatorConfig): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>()
  if (config.debug) return out
  const label = (n: number): Buffer => createHash('sha384').update(`nitro-recipient NSM simulator PCR${n}`).digest()
  for (const n of [0, 1, 2]) out.set(n, config.pcrs[n as SettablePcr] ? Buffer.from(config.pcrs[n as SettablePcr]!, 'hex') : label(n))
  out.set(4, createHash('sha384').update(Buffer.alloc(PCR_LENGTH)).update(config.identity.instanceId).digest())
  if (config.pcrs[8]) out.set(8, Buffer.from(config.pcrs[8], 'hex'))
  return out
}

export class NsmSimulator implements Attester {
  readonly description: string
  readonly #bank = new PcrBank(NSM_MAX_PCRS)
  readonly #chain: LiveChain
  readonly #now: () => Date
  readonly #config: SimulatorConfig
  readonly #log: Logger

  private constructor(config: SimulatorConfig, chain: LiveChain, readonly directory: string | null, opts: OpenOptions) {
    this.#config = config
    this.#chain = chain
    this.#now = opts.now ?? (() => new Date())
    for (const [i, v] of bootPcrs(config)) this.#bank.setBootValue(i, v)
    this.#bank.lockRange(BOOT_LOCKED_PCRS)
    this.description = directory === null ? 'simulator (in-process, ephemeral)' : `simulator (in-process, ${directory})`
    const log = opts.logger ?? createLogger('nsm-simulator', { defaultLevel: 'warn' })
    this.#log = log
    log.warn(
      { moduleId: this.moduleId, directory, debug: config.debug },
      'NSM SIMULATOR in use: attestation documents are signed by a development CA, not by AWS',
    )
  }

  /** An in-memory simulator (nothing on disk); its root is {@link rootCertificatePem}. */
  static async ephemeral(opts: SimulatorOptions = {}): Promise<NsmSimulator> {
    const now = (opts.now ?? (() => new Date()))()
    const config = configFrom(opts, now)
    const chain = new LiveChain(await createChain(config.identity, now), config.identity)
    return new NsmSimulator(config, chain, null, opts)
  }

  /** Creates a new simulator directory (0700, keys 0600) and opens it. Refuses an initialised directory. */
  static async init(dir: string, opts: SimulatorOptions = {}): Promise<NsmSimulator> {
    const now = (opts.now ?? (() => new Date()))()
    const config = configFrom(opts, now)
    const initial = await createChain(config.identity, now)
    await writeNewStore(dir, config, initial)
    return new NsmSimulator(config, new LiveChain(initial, config.identity, (r) => saveRenewed(dir, r)), dir, opts)
  }

  /** Opens an existing simulator directory (checks every key and chain link). */
  static async open(dir: string, opts: OpenOptions = {}): Promise<NsmSimulator> {
    const { config, chain, repaired } = await readStore(dir, (opts.now ?? (() => new Date()))())
    const sim = new NsmSimulator(config, new LiveChain(chain, config.identity, (r) => saveRenewed(dir, r)), dir, opts)
    if (repaired.length > 0) {
      sim.#log.warn({ directory: dir, repaired }, 'simulator directory held a half-written renewal: these levels were re-issued')
    }
    return sim
  }

  get identity(): Identity {
    return { ...this.#config.identity }
  }

  /** `i-<instance>-enc<enclave>`, as in real documents. */
  get moduleId(): string {
    return moduleIdOf(this.#config.identity)
  }

  get debug(): boolean {
    return this.#config.debug
  }

  /** The development root: the trust anchor for this simulator's documents (PEM). */
  get rootCertificatePem(): string {
    return this.#chain.current.root.cert.toString('pem')
  }

  get rootCertificateDer(): Uint8Array {
    return new Uint8Array(this.#chain.current.root.der)
  }

  async attest(options: AttestOptions = {}): Promise<Uint8Array> {
    const field = (v: Uint8Array | null | undefined, name: string): Uint8Array | null => {
      if (v === null || v === undefined) return null
      if (!(v instanceof Uint8Array)) throw new TypeError(`"${name}" must be a Uint8Array`)
      if (v.length > MAX_ATTESTATION_FIELD) throw new NsmInputTooLargeError(`NSM: InputTooLarge: ${name} has ${v.length} bytes, at most ${MAX_ATTESTATION_FIELD}`)
      return Buffer.from(v)
    }
    const publicKey = field(options.publicKey, 'publicKey')
    const userData = field(options.userData, 'userData')
    const nonce = field(options.nonce, 'nonce')
    // Snapshot the registers before any await: the document reflects the state at the call.
    const pcrs = this.#bank.lockedSnapshot()
    const now = this.#now()
    const c = await this.#chain.fresh(now)
    return buildDocument(
      {
        moduleId: this.moduleId,
        timestamp: now.getTime(),
        pcrs,
        certificate: c.leaf.der,
        cabundle: [c.root.der, c.regional.der, c.zonal.der, c.instance.der],
        publicKey,
        userData,
        nonce,
      },
      KeyObject.from(c.leaf.privateKey),
    )
  }

  async describePcr(index: number): Promise<PcrDescription> {
    return this.#bank.describe(index)
  }

  async extendPcr(index: number, data: Uint8Array): Promise<Uint8Array> {
    if (!(data instanceof Uint8Array)) throw new TypeError('"data" must be a Uint8Array')
    return this.#bank.extend(index, data)
  }

  async lockPcr(index: number): Promise<void> {
    this.#bank.lock(index)
  }

  async lockPcrs(range: number): Promise<void> {
    this.#bank.lockRange(range)
  }

  async describeNsm(): Promise<NsmDescription> {
    return {
      versionMajor: 1,
      versionMinor: 0,
      versionPatch: 0,
      moduleId: this.moduleId,
      maxPcrs: NSM_MAX_PCRS,
      lockedPcrs: this.#bank.lockedIndices(),
      digest: 'SHA384',
    }
  }

  async getRandom(): Promise<Uint8Array> {
    return randomBytes(RANDOM_BYTES)
  }

  async close(): Promise<void> {}
}
