/**
 * The one interface everything that needs attestation documents uses. Implemented by the
 * `/dev/nsm` client, the NSM-server client and the in-process simulator, so enclave-app and
 * tests never care which one they hold (selection is explicit, see `openAttester`).
 * @module
 */

/** Inputs bound into an attestation document; each at most {@link MAX_ATTESTATION_FIELD} bytes. */
export interface AttestOptions {
  /** DER SPKI (for KMS Recipient: RSA-2048). Absent is sent as CBOR null. */
  publicKey?: Uint8Array | null
  userData?: Uint8Array | null
  nonce?: Uint8Array | null
}

/** `DescribePCR` answer. */
export interface PcrDescription {
  locked: boolean
  /** The register value (48 bytes for SHA-384). */
  data: Uint8Array
}

/** `DescribeNSM` answer, field names camel-cased from the wire's. */
export interface NsmDescription {
  versionMajor: number
  versionMinor: number
  versionPatch: number
  moduleId: string
  maxPcrs: number
  /** Sorted ascending. */
  lockedPcrs: number[]
  digest: 'SHA256' | 'SHA384' | 'SHA512'
}

/** The NSM operations. Every failure is an `NsmError` (NSM error names as typed classes). */
export interface Attester {
  /** A COSE_Sign1 attestation document (raw bytes as the NSM returns them). */
  attest(options?: AttestOptions): Promise<Uint8Array>
  describePcr(index: number): Promise<PcrDescription>
  /** Extends PCR `index` with `data`; returns the new value SHA384(old || data). */
  extendPcr(index: number, data: Uint8Array): Promise<Uint8Array>
  lockPcr(index: number): Promise<void>
  /** Locks PCRs `[0, range)`. */
  lockPcrs(range: number): Promise<void>
  describeNsm(): Promise<NsmDescription>
  getRandom(): Promise<Uint8Array>
  /** Releases the device/connection. Idempotent. */
  close(): Promise<void>
  /** What this attester talks to, for logs: `/dev/nsm`, `unix:/x`, `simulator (in-process)`. */
  readonly description: string
}

/** Spec limit for user_data, nonce and public_key (nsm-api attestation_process.md CDDL). */
export const MAX_ATTESTATION_FIELD = 1024
/** NSM_REQUEST_MAX_SIZE in the nsm-api driver and the kernel. */
export const NSM_REQUEST_MAX_SIZE = 0x1000
/** NSM_RESPONSE_MAX_SIZE: the response buffer handed to the ioctl. */
export const NSM_RESPONSE_MAX_SIZE = 0x3000
/** PCR registers of a Nitro Enclave's NSM. */
export const NSM_MAX_PCRS = 32
