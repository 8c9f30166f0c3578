/**
 * The vsock bridge's stream path against plain `node:net`, both on unix sockets in this process
 * (this machine has no vsock loopback; the bridge path differs from real vsock only in the
 * address family):
 *   - baseline: `net.createServer().listen(path)` + `net.connect(path)`;
 *   - bridge: the addon's socket/bind/listen/connect (+ uv_poll for pending connects) with the fd
 *     wrapped in a libuv Pipe handle and a `net.Socket` (vsock-bridge/vsock.ts), as for vsock.
 * Measures throughput (one connection, 64 KiB writes, the reader discards) and connections per
 * second (sequential connect -> accept -> server end -> client close, and 16 in flight).
 * Rounds alternate baseline/bridge and the median of each is reported with the ratio.
 *
 * Run: npm run bench:vsock-bridge   (builds, then node dist/bench/vsock-bridge.js)
 * Env: BENCH_MB (per throughput round, default 512), BENCH_CONNS (per round, default 3000),
 *      BENCH_ROUNDS (default 5).
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs'
import * as net from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { FAMILY_UNIX, requireBinding } from '../vsock-bridge/native.js'
import { connectNative, listenNative } from '../vsock-bridge/vsock.js'

const MB = Number(process.env.BENCH_MB ?? 512)
const CONNS = Number(process.env.BENCH_CONNS ?? 3000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const CHUNK = Buffer.alloc(64 * 1024, 0xa5)

/** One transport under test: start a server on `path`, open client connections to it. */
interface Transport {
  name: string
  serve(path: string, onConnection: (s: net.Socket) => void): Promise<{ close(): Promise<void> }>
  connect(path: string): Promise<net.Socket>
}

const plainNet: Transport = {
  name: 'net',
  serve: (path, onConnection) =>
    new Promise((resolve, reject) => {
      const server = net.createServer(onConnection)
      server.once('error', reject)
      server.listen(path, () =>
        resolve({
          close: () => new Promise<void>((r) => server.close(() => r())),
        }),
      )
    }),
  connect: (path) =>
    new Promise((resolve, reject) => {
      const s = net.connect(path)
      s.once('connect', () => {
        s.off('error', reject)
        resolve(s)
      })
      s.once('error', reject)
    }),
}

const binding = requireBinding('bench')
const settings = { backlog: 511, allowHalfOpen: false, maxConnections: Infinity, onError: () => {} }
const bridge: Transport = {
  name: 'bridge',
  serve: (path, onConnection) => listenNative(binding, { family: FAMILY_UNIX, path: Buffer.from(path) }, onConnection, settings),
  connect: (path) =>
    connectNative(binding, { family: FAMILY_UNIX, path: Buffer.from(path) }, `unix:${path}`, { timeoutMs: 10_000, signal: undefined, allowHalfOpen: false }),
}

let seq = 0
const dir = mkdtempSync(join(tmpdir(), 'bench-vsock-bridge-'))
const freshPath = (): string => join(dir, `b${seq++}.sock`)

/** MB/s moving `MB` megabytes client -> server over one connection. */
async function throughput(t: Transport): Promise<number> {
  const path = freshPath()
  const total = MB * 1024 * 1024
  let received = 0
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  const server = await t.serve(path, (s) => {
    s.on('data', (c: Buffer) => {
      received += c.length
    })
    s.on('end', () => {
      s.end()
      done()
    })
  })
  const client = await t.connect(path)
  const start = process.hrtime.bigint()
  let sent = 0
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (sent < total) {
        sent += CHUNK.length
        if (!client.write(CHUNK)) {
          client.once('drain', pump)
          return
        }
      }
      client.end()
      resolve()
    }
    pump()
  })
  await finished
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  client.destroy()
  await server.close()
  if (received !== total) throw new Error(`${t.name}: received ${received} of ${total} bytes`)
  return MB / secs
}

/** Connections per second: connect, server ends at once, client sees 'close'; `parallel` at a time. */
async function connRate(t: Transport, parallel: number): Promise<number> {
  const path = freshPath()
  const server = await t.serve(path, (s) => {
    s.on('error', () => {})
    s.end()
  })
  let started = 0
  const start = process.hrtime.bigint()
  const worker = async (): Promise<void> => {
    while (started < CONNS) {
      started++
      const s = await t.connect(path)
      await new Promise<void>((resolve) => {
        s.on('error', () => {})
        s.once('close', () => resolve())
        s.resume()
        s.end()
      })
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker))
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  await server.close()
  return CONNS / secs
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

async function compare(label: string, unit: string, measure: (t: Transport) => Promise<number>): Promise<void> {
  const base: number[] = []
  const ours: number[] = []
  await measure(plainNet) // warm-up both
  await measure(bridge)
  for (let i = 0; i < ROUNDS; i++) {
    // Alternate the order so drift on a shared machine hits both alike.
    if (i % 2 === 0) {
      base.push(await measure(plainNet))
      ours.push(await measure(bridge))
    } else {
      ours.push(await measure(bridge))
      base.push(await measure(plainNet))
    }
  }
  const b = median(base)
  const o = median(ours)
  process.stdout.write(`${label.padEnd(34)} net ${b.toFixed(0).padStart(8)} ${unit}   bridge ${o.toFixed(0).padStart(8)} ${unit}   ratio ${(o / b).toFixed(2)}x\n`)
}

async function main(): Promise<void> {
  process.stdout.write(`vsock-bridge stream path vs node:net on unix sockets (node ${process.version}, ${cpus().length} cpus, load ${loadavg().map((x) => x.toFixed(2)).join(' ')})\n`)
  process.stdout.write(`${ROUNDS} rounds, medians; throughput ${MB} MiB per round, ${CONNS} connections per round\n`)
  try {
    await compare('throughput (64 KiB writes)', 'MiB/s', throughput)
    await compare('connections/s (sequential)', 'conn/s', (t) => connRate(t, 1))
    await compare('connections/s (16 in flight)', 'conn/s', (t) => connRate(t, 16))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  process.stdout.write(`load after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`)
}

await main()
