/**
 * SHA-384 on a second thread for streamed data. PCR0 and PCR2 both cover every byte of the
 * application ramdisk, so the writer runs both hashes ("lanes") on one worker: each byte is copied
 * once, into 4 MiB batches that are transferred (not cloned) to the worker together with the set of
 * lanes they feed. One worker rather than one per hash: on a 2-core machine the walking thread
 * already owns one core, and a third busy thread only adds start-up and scheduling cost.
 * Small inputs (under `threshold`) never start a worker. Memory is bounded: at most `maxInFlight`
 * bytes are queued for the worker before `update` waits.
 * @module
 */
import { createHash } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { EifError } from './errors.js'

// Messages in: {data, mask} (hash data into every lane whose bit is set), {snapshot: lane},
// {digest: true}. Out: {ack, buf} (the batch handed back for reuse), {snapshot}, {digests}.
const SRC = `
const { parentPort, workerData } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const hs = Array.from({ length: workerData.lanes }, () => createHash('sha384'))
parentPort.on('message', (m) => {
  if (m.data !== undefined) {
    for (let i = 0; i < hs.length; i++) if (m.mask & (1 << i)) hs[i].update(m.data)
    parentPort.postMessage({ ack: m.data.length, buf: m.data.buffer }, [m.data.buffer])
  } else if (m.snapshot !== undefined) {
    parentPort.postMessage({ snapshot: hs[m.snapshot].copy().digest() })
  } else {
    parentPort.postMessage({ digests: hs.map((h) => h.digest()) })
  }
})
`

const BATCH = 4 << 20

export interface OffThreadSha384Options {
  /** Independent hashes fed from one stream (default 1, at most 8). */
  lanes?: number
  /** Bytes hashed on this thread before a worker is started (default 8 MiB). */
  threshold?: number
  /** Bytes queued for the worker before `update` waits (default 8 MiB). */
  maxInFlight?: number
}

interface Batch {
  data: Uint8Array
  mask: number
}

export class OffThreadSha384 {
  private readonly lanes: number
  private readonly threshold: number
  private readonly maxInFlight: number
  /** Full batches waiting for the worker to start (pending mode). */
  private pending: Batch[] = []
  private pendingBytes = 0
  private batch: Uint8Array = new Uint8Array(BATCH)
  /** The lanes the current batch feeds. */
  private mask = 0
  /** Batches the worker handed back, reused instead of allocating. */
  private free: Uint8Array[] = []
  private fill = 0
  private worker: Worker | null = null
  private inFlight = 0
  private waiters: Array<() => void> = []
  private digestWaiter: ((d: Buffer[]) => void) | null = null
  private snapshotWaiters: Array<(d: Buffer) => void> = []
  private failure: Error | null = null

  constructor(opts: OffThreadSha384Options = {}) {
    this.lanes = opts.lanes ?? 1
    if (!Number.isInteger(this.lanes) || this.lanes < 1 || this.lanes > 8) throw new RangeError('OffThreadSha384: lanes must be 1..8')
    this.threshold = opts.threshold ?? 8 << 20
    this.maxInFlight = opts.maxInFlight ?? 8 << 20
  }

  /**
   * Starts the worker now, for a caller that knows a large input is coming: its start-up (tens of
   * milliseconds) then overlaps the caller's own work instead of stalling the first batches.
   */
  prestart(): void {
    if (this.worker === null) this.start()
  }

  private start(): void {
    const w = new Worker(SRC, { eval: true, workerData: { lanes: this.lanes } })
    w.on('message', (m: { ack?: number; buf?: ArrayBuffer; digests?: Uint8Array[]; snapshot?: Uint8Array }) => {
      if (m.ack !== undefined) {
        this.inFlight -= m.ack
        if (m.buf !== undefined && m.buf.byteLength === BATCH && this.free.length < 8) this.free.push(new Uint8Array(m.buf))
        const ws = this.waiters
        this.waiters = []
        for (const f of ws) f()
      } else if (m.snapshot !== undefined) {
        this.snapshotWaiters.shift()?.(Buffer.from(m.snapshot))
      } else if (m.digests !== undefined) {
        this.digestWaiter?.(m.digests.map((d) => Buffer.from(d)))
      }
    })
    w.on('error', (e) => {
      this.failure = e
      for (const f of this.waiters) f()
      this.waiters = []
    })
    this.worker = w
    for (const b of this.pending) this.post(b)
    this.pending = []
  }

  private post(b: Batch): void {
    this.inFlight += b.data.length
    ;(this.worker as Worker).postMessage(b, [b.data.buffer as ArrayBuffer])
  }

  /** Hands the current batch on (to the worker, or to the pending list) and starts a new one. */
  private seal(): void {
    if (this.fill === 0) return
    const b = { data: this.batch.subarray(0, this.fill), mask: this.mask }
    this.batch = this.free.pop() ?? new Uint8Array(BATCH)
    this.fill = 0
    if (this.worker !== null) {
      this.post(b)
      return
    }
    this.pending.push(b)
    this.pendingBytes += b.data.length
    if (this.pendingBytes >= this.threshold) this.start()
  }

  private check(): void {
    if (this.failure) throw new EifError('ERR_EIF_INPUT', `hash worker failed: ${this.failure.message}`)
  }

  private checkLane(lane: number): void {
    if (!Number.isInteger(lane) || lane < 0 || lane >= this.lanes) throw new RangeError(`OffThreadSha384: no lane ${lane}`)
  }

  /**
   * Queues `chunk` (copied) for hashing into the lanes whose bits are set in `mask` (default:
   * lane 0); waits while too much is queued.
   */
  async update(chunk: Uint8Array, mask = 1): Promise<void> {
    this.check()
    if (!Number.isInteger(mask) || mask < 1 || mask >= 1 << this.lanes) throw new RangeError(`OffThreadSha384: bad lane mask ${mask}`)
    if (mask !== this.mask) {
      this.seal()
      this.mask = mask
    }
    let off = 0
    while (off < chunk.length) {
      const n = Math.min(BATCH - this.fill, chunk.length - off)
      this.batch.set(chunk.subarray(off, off + n), this.fill)
      this.fill += n
      off += n
      if (this.fill === BATCH) this.seal()
    }
    while (this.worker !== null && this.inFlight > this.maxInFlight && this.failure === null) {
      await new Promise<void>((r) => this.waiters.push(r))
    }
  }

  /** Digests of what never left this thread (no worker was started). */
  private localDigests(lanes: number[]): Buffer[] {
    const batches = [...this.pending, { data: this.batch.subarray(0, this.fill), mask: this.mask }]
    return lanes.map((lane) => {
      const h = createHash('sha384')
      for (const b of batches) if (b.mask & (1 << lane)) h.update(b.data)
      return h.digest()
    })
  }

  /** The SHA-384 digest of everything fed to `lane` so far; hashing can continue. */
  async snapshot(lane = 0): Promise<Buffer> {
    this.check()
    this.checkLane(lane)
    if (this.worker === null) return this.localDigests([lane])[0]
    this.seal()
    const p = new Promise<Buffer>((resolve) => this.snapshotWaiters.push(resolve))
    this.worker.postMessage({ snapshot: lane })
    return p
  }

  /** The SHA-384 digest of every lane; the hasher is finished afterwards. */
  async digests(): Promise<Buffer[]> {
    this.check()
    const all = Array.from({ length: this.lanes }, (_, i) => i)
    if (this.worker === null) return this.localDigests(all)
    this.seal()
    const w = this.worker
    try {
      return await new Promise<Buffer[]>((resolve, reject) => {
        this.digestWaiter = resolve
        w.once('error', reject)
        w.postMessage({ digest: true })
      })
    } catch (e) {
      throw new EifError('ERR_EIF_INPUT', `hash worker failed: ${(e as Error).message}`)
    } finally {
      await w.terminate()
    }
  }

  /** The SHA-384 digest of lane 0 (a one-lane hasher's only hash). */
  async digest(): Promise<Buffer> {
    return (await this.digests())[0]
  }

  /** Stops the worker without a digest (error paths). */
  async abort(): Promise<void> {
    await this.worker?.terminate()
  }
}
