/**
 * PCR measurements of an EIF (image-format `eif_hasher.rs`, `utils/mod.rs`):
 *
 *   extend(x) = SHA384(48 zero bytes || SHA384(x))
 *   PCR0 = extend(kernel || cmdline || every ramdisk)   PCR1 = extend(kernel || cmdline || ramdisk[0])
 *   PCR2 = extend(ramdisk[1] || ramdisk[2] || ...)      PCR8 = extend(DER of the signing certificate)
 *
 * Only section data is hashed, in file order. PCR0 and PCR1 share one hash state until they
 * diverge (the first byte of ramdisk[1]); the state is then copied, so kernel and cmdline bytes are
 * hashed once.
 * @module
 */
import { createHash, type Hash } from 'node:crypto'
import { SectionType } from './format.js'

/** SHA-384 PCR values as lowercase hex (96 characters). */
export interface Measurements {
  pcr0: string
  pcr1: string
  pcr2: string
  /** Present only for signed images. */
  pcr8?: string
}

const ZERO48 = Buffer.alloc(48)

/** `SHA384(0^48 || digest)`: one TPM-style extend of a zeroed PCR. */
export function extendDigest(digest: Uint8Array): Buffer {
  return createHash('sha384').update(ZERO48).update(digest).digest()
}

/** `extend(SHA384(content))` as hex: what `nitro-cli pcr --input FILE` prints. */
export function pcrOfBytes(content: Uint8Array): string {
  return extendDigest(createHash('sha384').update(content).digest()).toString('hex')
}

/** PCR2 of an image with no second ramdisk: extend(SHA384("")). */
export const PCR_OF_EMPTY = pcrOfBytes(new Uint8Array(0))

/**
 * Streaming measurer. Feed section data in file order with `begin(type)` / `update(chunk)`;
 * `finish()` returns the PCRs. With `pcr2: false` the caller computes PCR2 elsewhere (the reader
 * does it on a second core) and `finish()` reports `pcr2: ''`.
 */
export class Measurer {
  /** PCR0 state while it still equals PCR1's; after the fork, PCR0's alone. */
  private h0: Hash = createHash('sha384')
  private h1: Hash | null = null
  private h2: Hash | null
  private ramdisks = 0
  private current: number = 0
  private pcr1Done: string | null = null

  constructor(opts: { pcr2?: boolean } = {}) {
    this.h2 = opts.pcr2 === false ? null : createHash('sha384')
  }

  /** Starts a section of `type`; following `update`s are its data. */
  begin(type: number): void {
    this.current = type
    if (type === SectionType.Ramdisk) {
      this.ramdisks++
      if (this.ramdisks === 2) {
        // PCR1 stops at the end of ramdisk[0]: fork its state now.
        this.h1 = this.h0.copy()
      }
    }
  }

  update(chunk: Uint8Array): void {
    switch (this.current) {
      case SectionType.Kernel:
      case SectionType.Cmdline:
        this.h0.update(chunk)
        this.h1?.update(chunk)
        return
      case SectionType.Ramdisk:
        this.h0.update(chunk)
        if (this.ramdisks >= 2) this.h2?.update(chunk)
        return
      default:
        return // metadata and signature are not measured
    }
  }

  finish(): Measurements {
    if (this.pcr1Done !== null) throw new TypeError('Measurer.finish called twice')
    const d1 = (this.h1 ?? this.h0.copy()).digest()
    const d0 = this.h0.digest()
    this.pcr1Done = extendDigest(d1).toString('hex')
    return {
      pcr0: extendDigest(d0).toString('hex'),
      pcr1: this.pcr1Done,
      pcr2: this.h2 === null ? '' : extendDigest(this.h2.digest()).toString('hex'),
    }
  }
}
