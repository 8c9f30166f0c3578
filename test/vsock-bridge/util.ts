// Helpers shared by the vsock-bridge tests.
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
