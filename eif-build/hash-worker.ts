/**
 * SHA-384 on a second thread for streamed data: PCR0 and PCR2 both cover every byte of the
 * application ramdisk, so the writer hands PCR2's copy to a worker and the two hashes run on two
 * cores. Small inputs (under `threshold`) never start a worker. Memory is bounded: at most
 * `maxInFlight` bytes are queued for the worker before `update` waits.
 * @module
 */
import { createHash, type Hash } from 'node:crypto'
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
    parentPort.postMessage({ ack: m.length })
  }
})
`

export class OffThreadSha384 {
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  private local: Hash | null = null
  private worker: Worker | null = null
  private inFlight = 0
  private waiters: Array<() => void> = []
  private digestWaiter: ((d: Buffer) => void) | null = null
  private snapshotWaiters: Array<(d: Buffer) => void> = []
  private failure: Error | null = null

  constructor(
    private readonly threshold = 16 << 20,
    private readonly maxInFlight = 16 << 20,
  ) {}

  private start(): void {
    const w = new Worker(SRC, { eval: true })
    w.on('message', (m: { ack?: number; digest?: Uint8Array; snapshot?: Uint8Array }) => {
      if (m.ack !== undefined) {
        this.inFlight -= m.ack
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

  /** Queues `chunk` (copied) for hashing; waits while too much is queued. */
  async update(chunk: Uint8Array): Promise<void> {
    if (this.failure) throw new EifError('ERR_EIF_INPUT', `hash worker failed: ${this.failure.message}`)
    const copy = new Uint8Array(chunk) // own ArrayBuffer, safe to transfer
    if (this.worker === null) {
      this.pending.push(copy)
      this.pendingBytes += copy.length
      if (this.pendingBytes >= this.threshold) this.start()
      return
    }
    this.post(copy)
    while (this.inFlight > this.maxInFlight && this.failure === null) {
      await new Promise<void>((r) => this.waiters.push(r))
    }
  }

  /** The SHA-384 digest of everything passed to `update` so far; hashing can continue. */
  async snapshot(): Promise<Buffer> {
    if (this.worker === null) {
      const h = createHash('sha384')
      for (const c of this.pending) h.update(c)
      return h.digest()
    }
    const w = this.worker
    if (this.failure) throw new EifError('ERR_EIF_INPUT', `hash worker failed: ${this.failure.message}`)
    const p = new Promise<Buffer>((resolve) => this.snapshotWaiters.push(resolve))
    w.postMessage('snapshot')
    return p
  }

  /** The SHA-384 digest of everything passed to `update`. */
  async digest(): Promise<Buffer> {
    if (this.worker === null) {
      this.local = createHash('sha384')
      for (const c of this.pending) this.local.update(c)
      this.pending = []
      return this.local.digest()
    }
    const w = this.worker
    try {
      const d = await new Promise<Buffer>((resolve, reject) => {
        if (this.failure) return reject(this.failure)
        this.digestWaiter = resolve
        w.once('error', reject)
        w.postMessage(null)
      })
      return d
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
