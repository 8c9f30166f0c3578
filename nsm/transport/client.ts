/**
 * A client transport to an NSM server: one connection per request (connect, send one frame,
 * read one frame, close), so a dropped server never leaves a half-read stream behind. The
 * response is bounded to 12288 bytes like the device's buffer, and the whole exchange to
 * `timeoutMs`.
 * @module
 */
import { connect, formatAddress, toAddress, type Address } from '../../vsock-bridge/index.js'
import { NSM_RESPONSE_MAX_SIZE } from '../attester.js'
import { NsmTransportError } from '../errors.js'
import type { NsmTransport } from '../protocol-attester.js'
import { encodeFrame, FrameReader } from './framing.js'

export interface ServerClientOptions {
  /** Connect + request + response, ms. Default 30 s (a real attestation takes well under 1 s). */
  timeoutMs?: number
}

export class ServerTransport implements NsmTransport {
  readonly description: string
  readonly #address: Address
  readonly #timeoutMs: number

  constructor(address: string | Address, opts: ServerClientOptions = {}) {
    this.#address = toAddress(address)
    this.description = formatAddress(this.#address)
    this.#timeoutMs = opts.timeoutMs ?? 30_000
  }

  async exchange(request: Uint8Array): Promise<Uint8Array> {
    const signal = AbortSignal.timeout(this.#timeoutMs)
    let socket
    try {
      socket = await connect(this.#address, { timeoutMs: this.#timeoutMs, signal })
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'error'
      throw new NsmTransportError(`cannot reach the NSM server at ${this.description}: ${code}`, { cause: e })
    }
    return await new Promise<Uint8Array>((resolve, reject) => {
      const reader = new FrameReader(NSM_RESPONSE_MAX_SIZE)
      const fail = (why: string, cause?: unknown): void => {
        socket.destroy()
        reject(new NsmTransportError(`NSM server ${this.description}: ${why}`, cause === undefined ? undefined : { cause }))
      }
      const onAbort = (): void => fail(`no response within ${this.#timeoutMs} ms`)
      signal.addEventListener('abort', onAbort, { once: true })
      const done = (): void => signal.removeEventListener('abort', onAbort)
      socket.on('data', (chunk: Buffer) => {
        let frames: Uint8Array[]
        try {
          frames = reader.push(chunk)
        } catch (e) {
          done()
          fail((e as Error).message, e)
          return
        }
        if (frames.length === 0) return
        done()
        if (frames.length > 1 || reader.pending > 0) {
          fail('sent more than one response')
          return
        }
        socket.end()
        resolve(frames[0])
      })
      socket.on('error', (e) => {
        done()
        fail(`connection error ${(e as NodeJS.ErrnoException).code ?? ''}`.trim(), e)
      })
      socket.on('close', () => {
        done()
        fail('closed the connection without a complete response')
      })
      socket.write(encodeFrame(request))
    })
  }

  async close(): Promise<void> {}
}
