/**
 * The simulator's PCR bank: 32 SHA-384 registers with the NSM's semantics (QEMU virtio-nsm.c
 * and nsm-api nsm-check.rs): extend is `SHA384(old || data)`; an index >= 32 is `InvalidIndex`;
 * extending or locking a locked register is `ReadOnlyIndex`; `LockPCRs{range}` locks `[0, range)`
 * and a range > 32 is `InvalidIndex`. At boot PCRs 0..15 hold the measurements and are locked;
 * 16..31 are zero and free for the application.
 * @module
 */
import { createHash } from 'node:crypto'
import { NSM_MAX_PCRS } from '../attester.js'
import { NsmInvalidIndexError, NsmReadOnlyIndexError } from '../errors.js'

/** SHA-384 register width. */
export const PCR_LENGTH = 48
/** PCRs the platform measures at boot and locks before the application runs. */
export const BOOT_LOCKED_PCRS = 16

export class PcrBank {
  readonly #values: Buffer[]
  readonly #locked: boolean[]

  constructor(readonly count: number = NSM_MAX_PCRS) {
    this.#values = Array.from({ length: count }, () => Buffer.alloc(PCR_LENGTH))
    this.#locked = Array.from({ length: count }, () => false)
  }

  #index(index: number): number {
    if (!Number.isInteger(index)) throw new TypeError('"index" must be an integer')
    if (index < 0 || index >= this.count) throw new NsmInvalidIndexError(`NSM: InvalidIndex: PCR ${index} (the bank has ${this.count})`)
    return index
  }

  /** Current value (a copy) and lock state. */
  describe(index: number): { locked: boolean; data: Uint8Array } {
    const i = this.#index(index)
    return { locked: this.#locked[i], data: Buffer.from(this.#values[i]) }
  }

  /** `SHA384(old || data)`; returns the new value. */
  extend(index: number, data: Uint8Array): Uint8Array {
    const i = this.#index(index)
    if (this.#locked[i]) throw new NsmReadOnlyIndexError(`NSM: ReadOnlyIndex: PCR ${i} is locked`)
    this.#values[i] = createHash('sha384').update(this.#values[i]).update(data).digest()
    return Buffer.from(this.#values[i])
  }

  lock(index: number): void {
    const i = this.#index(index)
    if (this.#locked[i]) throw new NsmReadOnlyIndexError(`NSM: ReadOnlyIndex: PCR ${i} is already locked`)
    this.#locked[i] = true
  }

  /** Locks `[0, range)`; registers already locked stay locked. */
  lockRange(range: number): void {
    if (!Number.isInteger(range)) throw new TypeError('"range" must be an integer')
    if (range < 0 || range > this.count) throw new NsmInvalidIndexError(`NSM: InvalidIndex: range ${range} (the bank has ${this.count})`)
    for (let i = 0; i < range; i++) this.#locked[i] = true
  }

  /** Boot-time only: sets an unlocked register to a measured value (the platform, not the app). */
  setBootValue(index: number, value: Uint8Array): void {
    const i = this.#index(index)
    if (this.#locked[i]) throw new NsmReadOnlyIndexError(`NSM: ReadOnlyIndex: PCR ${i} is locked`)
    if (value.length !== PCR_LENGTH) throw new RangeError(`PCR value must be ${PCR_LENGTH} bytes`)
    this.#values[i] = Buffer.from(value)
  }

  /** Indices of locked registers, ascending. */
  lockedIndices(): number[] {
    const out: number[] = []
    for (let i = 0; i < this.count; i++) if (this.#locked[i]) out.push(i)
    return out
  }

  /**
   * The registers a document reports: the locked ones, ascending (a real NSM reports 0..15,
   * plus any the application locked, e.g. 17 entries with PCR16 locked).
   */
  lockedSnapshot(): Map<number, Uint8Array> {
    const out = new Map<number, Uint8Array>()
    for (let i = 0; i < this.count; i++) if (this.#locked[i]) out.set(i, Buffer.from(this.#values[i]))
    return out
  }
}
