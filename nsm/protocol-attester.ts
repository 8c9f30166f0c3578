/**
 * The client side of the NSM protocol over any transport (the `/dev/nsm` ioctl, an NSM
 * server connection): encodes requests (refusing > 4096 bytes before anything is sent), checks
 * that the answer is the one asked for, and turns `{"Error": name}` into the typed NSM error.
 * Calls are serialised: the device holds one message buffer, and a queue keeps the order
 * identical for every transport.
 * @module
 */
import { MAX_ATTESTATION_FIELD, type AttestOptions, type Attester, type NsmDescription, type PcrDescription } from './attester.js'
import { encodeRequest, type NsmRequest } from './codec/request.js'
import { decodeResponse, type NsmResponse } from './codec/response.js'
import { NsmInputTooLargeError, NsmProtocolError, nsmErrorFromName } from './errors.js'

/** Moves one encoded request to an NSM and returns its encoded response. */
export interface NsmTransport {
  exchange(request: Uint8Array): Promise<Uint8Array>
  close(): Promise<void>
  readonly description: string
}

type Of<T extends NsmResponse['type']> = Extract<NsmResponse, { type: T }>

export class ProtocolAttester implements Attester {
  #queue: Promise<unknown> = Promise.resolve()
  #closed = false

  constructor(private readonly transport: NsmTransport) {}

  get description(): string {
    return this.transport.description
  }

  /** One request/response, after every earlier call has finished. */
  #call<T extends NsmResponse['type']>(req: NsmRequest, expect: T): Promise<Of<T>> {
    // Encode now, synchronously: size and argument errors surface before anything is queued or sent.
    const bytes = encodeRequest(req)
    const run = this.#queue.then(async () => {
      if (this.#closed) throw new NsmProtocolError('the NSM client is closed')
      const res = decodeResponse(await this.transport.exchange(bytes))
      if (res.type === 'Error') throw nsmErrorFromName(res.error)
      if (res.type !== expect) throw new NsmProtocolError(`NSM answered ${res.type} to ${req.type}`)
      return res as Of<T>
    })
    this.#queue = run.catch(() => undefined)
    return run
  }

  async attest(options: AttestOptions = {}): Promise<Uint8Array> {
    const field = (v: Uint8Array | null | undefined, name: string): Uint8Array | null => {
      if (v === null || v === undefined) return null
      if (!(v instanceof Uint8Array)) throw new TypeError(`"${name}" must be a Uint8Array`)
      if (v.length > MAX_ATTESTATION_FIELD) throw new NsmInputTooLargeError(`NSM: InputTooLarge: ${name} has ${v.length} bytes, at most ${MAX_ATTESTATION_FIELD}`)
      return v
    }
    const req: NsmRequest = {
      type: 'Attestation',
      userData: field(options.userData, 'userData'),
      nonce: field(options.nonce, 'nonce'),
      publicKey: field(options.publicKey, 'publicKey'),
    }
    return (await this.#call(req, 'Attestation')).document
  }

  async describePcr(index: number): Promise<PcrDescription> {
    const r = await this.#call({ type: 'DescribePCR', index }, 'DescribePCR')
    return { locked: r.lock, data: r.data }
  }

  async extendPcr(index: number, data: Uint8Array): Promise<Uint8Array> {
    return (await this.#call({ type: 'ExtendPCR', index, data }, 'ExtendPCR')).data
  }

  async lockPcr(index: number): Promise<void> {
    await this.#call({ type: 'LockPCR', index }, 'LockPCR')
  }

  async lockPcrs(range: number): Promise<void> {
    await this.#call({ type: 'LockPCRs', range }, 'LockPCRs')
  }

  async describeNsm(): Promise<NsmDescription> {
    const { type: _type, ...d } = await this.#call({ type: 'DescribeNSM' }, 'DescribeNSM')
    return d
  }

  async getRandom(): Promise<Uint8Array> {
    return (await this.#call({ type: 'GetRandom' }, 'GetRandom')).random
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#queue
    await this.transport.close()
  }
}
