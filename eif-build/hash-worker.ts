/**
 * SHA-384 on a second thread for streamed data. PCR0 and PCR2 both cover every byte of the
 * application ramdisk, so the writer hands both hashes to workers and its own thread only walks,
 * formats and writes. Data is copied into 4 MiB batches that are transferred (not cloned) to the
 * worker. Small inputs (under `threshold`) never start a worker. Memory is bounded: at most
 * `maxInFlight` bytes are queued for the worker before `update` waits.
 * @module
 */
import { createHash } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { EifError } from './errors.js'

const SRC = `
const { parentPort } = require('node:worker_threads')
const h = require('node:crypto').createHash('sha384')
parentPort.on('message', (m) => {
  if (m === null) {
    parentPort.postMessage({ digest: h.digest() })
  } else if (m === 'snapshot') {
    parentPort.postMessage({ snapshot: h.copy().digest() })
  } else {
    h.update(m)
    // hand the batch back for reuse: no garbage ArrayBuffers pile up on either side
    parentPort.postMessage({ ack: m.length, buf: m.buffer }, [m.buffer])
  }
})
`

const BATCH = 4 << 20

export class OffThreadSha384 {
  /** Full batches waiting for the worker to start (pending mode). */
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  private batch: Uint8Array = new Uint8Array(BATCH)
  /** Batches the worker handed back, reused instead of allocating. */
  private free: Uint8Array[] = []
  private fill = 0
  private worker: Worker | null = null
  private inFlight = 0
  private waiters: Array<() => void> = []
  private digestWaiter: ((d: Buffer) => void) | null = null
  private snapshotWaiters: Array<(d: Buffer) => void> = []
  private failure: Error | null = null

  constructor(
    private readonly threshold = 8 << 20,
    private readonly maxInFlight = 8 << 20,
  ) {}

  private start(): void {
    const w = new Worker(SRC, { eval: true })
    w.on('message', (m: { ack?: number; buf?: ArrayBuffer; digest?: Uint8Array; snapshot?: Uint8Array }) => {
      if (m.ack !== undefined) {
        this.inFlight -= m.ack
        if (m.buf !== undefined && m.buf.byteLength === BATCH && this.free.length < 8) this.free.push(new Uint8Array(m.buf))
        const ws = this.waiters
        this.waiters = []
        for (const f of ws) f()
      } else if (m.snapshot !== undefined) {
        this.snapshotWaiters.shift()?.(Buffer.from(m.snapshot))
      } else if (m.digest !== undefined) {
        this.digestWaiter?.(Buffer.from(m.digest))
      }
    })
    w.on('error', (e) => {
      this.failure = e
      for (const f of this.waiters) f()
      this.waiters = []
    })
    this.worker = w
    for (const c of this.pending) this.post(c)
    this.pending = []
  }

  private post(c: Uint8Array): void {
    this.inFlight += c.length
    ;(this.worker as Worker).postMessage(c, [c.buffer as ArrayBuffer])
  }

  /** Hands the current batch on (to the worker, or to the pending list) and starts a new one. */
  private seal(): void {
    if (this.fill === 0) return
    const c = this.batch.subarray(0, this.fill)
    this.batch = this.free.pop() ?? new Uint8Array(BATCH)
    this.fill = 0
    if (this.worker !== null) {
      this.post(c)
      return
    }
    this.pending.push(c)
    this.pendingBytes += c.length
    if (this.pendingBytes >= this.threshold) this.start()
  }

  private check(): void {
    if (this.failure) throw new EifError('ERR_EIF_INPUT', `hash worker failed: ${this.failure.message}`)
  }

  /** Queues `chunk` (copied) for hashing; waits while too much is queued. */
  async update(chunk: Uint8Array): Promise<void> {
    this.check()
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

  private localDigest(): Buffer {
    const h = createHash('sha384')
    for (const c of this.pending) h.update(c)
    h.update(this.batch.subarray(0, this.fill))
    return h.digest()
  }

  /** The SHA-384 digest of everything passed to `update` so far; hashing can continue. */
  async snapshot(): Promise<Buffer> {
    this.check()
    if (this.worker === null) return this.localDigest()
    this.seal()
    const p = new Promise<Buffer>((resolve) => this.snapshotWaiters.push(resolve))
    this.worker.postMessage('snapshot')
    return p
  }

  /** The SHA-384 digest of everything passed to `update`. */
  async digest(): Promise<Buffer> {
    this.check()
    if (this.worker === null) return this.localDigest()
    this.seal()
    const w = this.worker
    try {
      return await new Promise<Buffer>((resolve, reject) => {
        this.digestWaiter = resolve
        w.once('error', reject)
        w.postMessage(null)
      })
    } catch (e) {
      throw new EifError('ERR_EIF_INPUT', `hash worker failed: ${(e as Error).message}`)
    } finally {
      await w.terminate()
    }
  }

  /** Stops the worker without a digest (error paths). */
  async abort(): Promise<void> {
    await this.worker?.terminate()
  }
}
