/**
 * Framing of the NSM protocol on a stream (NSM server <-> client): each message is a u32
 * big-endian length followed by that many bytes of CBOR, exactly what the ioctl would carry.
 * Lengths are bounded by the NSM's own limits (requests 4096 bytes, responses 12288); a zero or
 * larger length is a framing error and the connection is dropped, since nothing after it can
 * be trusted to be aligned.
 * @module
 */
import { NsmTransportError } from '../errors.js'

export const FRAME_HEADER = 4

export function encodeFrame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length)
  out.writeUInt32BE(payload.length, 0)
  out.set(payload, FRAME_HEADER)
  return out
}

/** Incremental decoder: push chunks, get whole frames. */
export class FrameReader {
  #buf = Buffer.alloc(0)

  constructor(readonly maxLength: number) {}

  /** Bytes held that do not yet form a frame. */
  get pending(): number {
    return this.#buf.length
  }

  /** Returns the frames completed by `chunk`; throws NsmTransportError on a bad length. */
  push(chunk: Uint8Array): Uint8Array[] {
    this.#buf = this.#buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#buf, chunk])
    const frames: Uint8Array[] = []
    while (this.#buf.length >= FRAME_HEADER) {
      const len = this.#buf.readUInt32BE(0)
      if (len === 0 || len > this.maxLength) throw new NsmTransportError(`frame length ${len} outside 1..${this.maxLength}`)
      if (this.#buf.length < FRAME_HEADER + len) break
      frames.push(Uint8Array.prototype.slice.call(this.#buf, FRAME_HEADER, FRAME_HEADER + len))
      this.#buf = this.#buf.subarray(FRAME_HEADER + len)
    }
    return frames
  }
}
