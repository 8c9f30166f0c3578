// Helpers shared by the vsock-bridge tests.
import fc from 'fast-check'
import { readdirSync } from 'node:fs'
import type { Socket } from 'node:net'
import type { Listener, ListenSettings } from '../../vsock-bridge/listen.js'
import { FAMILY_UNIX, requireBinding } from '../../vsock-bridge/native.js'
import { connectNative, listenNative } from '../../vsock-bridge/vsock.js'

/** Open file descriptors of this process. */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length
}

/** Lets pending close callbacks and timers run. */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r))
}

/** Everything the socket sends until 'end'. */
export function readAll(s: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    s.on('data', (c: Buffer) => parts.push(c))
    s.once('end', () => resolve(Buffer.concat(parts)))
    s.once('error', reject)
  })
}

export const defaultSettings = (over: Partial<ListenSettings> = {}): ListenSettings => ({
  backlog: 128,
  allowHalfOpen: false,
  maxConnections: Infinity,
  onError: () => {},
  ...over,
})

/** The vsock code path (addon socket/bind/connect + libuv Pipe) on a unix socket file. */
export function nativeUnix(path: string): {
  listen: (onConnection: (s: Socket) => void, over?: Partial<ListenSettings>) => Promise<Listener>
  connect: (opts?: { timeoutMs?: number; signal?: AbortSignal; allowHalfOpen?: boolean }) => Promise<Socket>
} {
  const b = requireBinding('test')
  const target = { family: FAMILY_UNIX, path: Buffer.from(path) } as const
  return {
    listen: (onConnection, over) => listenNative(b, target, onConnection, defaultSettings(over)),
    connect: (opts = {}) =>
      connectNative(b, target, `unix:${path}`, { timeoutMs: opts.timeoutMs ?? 5000, signal: opts.signal, allowHalfOpen: opts.allowHalfOpen ?? false }),
  }
}

/**
 * Byte strings of 0..`max` bytes over the whole length range. fast-check's default size caps a
 * generated array at 10 elements whatever its maxLength, which would never fill a socket buffer;
 * the bytes come from a seeded xorshift, so a failure replays from fast-check's seed.
 */
export function bytesUpTo(max: number): fc.Arbitrary<Uint8Array> {
  return fc.tuple(fc.integer({ min: 0, max }), fc.integer({ min: 1, max: 0x7fff_ffff })).map(([n, seed]) => {
    const out = new Uint8Array(n)
    let x = seed
    for (let i = 0; i < n; i++) {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      out[i] = x & 0xff
    }
    return out
  })
}

/** Up to `maxCount` split points in 0..`max` (again over the whole count range, not fast-check's 10). */
export function cutsUpTo(max: number, maxCount: number): fc.Arbitrary<number[]> {
  return fc.array(fc.nat({ max }), { maxLength: maxCount, size: 'max' })
}

/** Writes `data` in pieces cut at `cuts` (taken modulo its length), then ends. */
export function writeSplit(s: Socket, data: Uint8Array, cuts: number[]): void {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b)
  let prev = 0
  for (const p of [...points, data.length]) {
    s.write(data.subarray(prev, p))
    prev = p
  }
  s.end()
}
