/**
 * The vsock bridge's stream path against plain `node:net`, both on unix sockets in this process
 * (this machine has no vsock loopback; the bridge path differs from real vsock only in the
 * address family):
 *   - baseline: `net.createServer().listen(path)` + `net.connect(path)`;
 *   - bridge: the addon's socket/bind/listen/connect (+ uv_poll for pending connects) with the fd
 *     wrapped in a libuv Pipe handle and a `net.Socket` (vsock-bridge/vsock.ts), as for vsock.
 * Measures throughput (one connection, 64 KiB writes, the reader discards) and connections per
 * second (sequential connect -> accept -> server end -> client close, and 16 in flight).
 * Rounds alternate baseline/bridge and the median of each is reported with the ratio, for wall-clock
 * rate and for process CPU time per unit of work (user+system, both ends are in this process); on a
 * shared machine the CPU ratio is the steadier of the two.
 *
 * Run: npm run bench:vsock-bridge   (builds, then node dist/bench/vsock-bridge.js)
 * Env: BENCH_MB (per throughput round, default 512), BENCH_CONNS (per round, default 3000),
 *      BENCH_ROUNDS (default 7).
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
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
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

/** A round's result: units per second (wall clock) and CPU microseconds per unit. */
interface Sample {
  rate: number
  cpuPerUnit: number
}

/** Times `work` (which does `units` units) in wall clock and process CPU. */
async function timed(units: number, work: () => Promise<void>): Promise<Sample> {
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  await work()
  const secs = Number(process.hrtime.bigint() - t0) / 1e9
  const cpu = process.cpuUsage(cpu0)
  return { rate: units / secs, cpuPerUnit: (cpu.user + cpu.system) / units }
}

/** MiB/s moving `MB` MiB client -> server over one connection. */
async function throughput(t: Transport): Promise<Sample> {
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
  let sent = 0
  const sample = await timed(MB, async () => {
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
  })
  client.destroy()
  await server.close()
  if (received !== total) throw new Error(`${t.name}: received ${received} of ${total} bytes`)
  return sample
}

/** Connections per second: connect, server ends at once, client sees 'close'; `parallel` at a time. */
async function connRate(t: Transport, parallel: number): Promise<Sample> {
  const path = freshPath()
  const server = await t.serve(path, (s) => {
    s.on('error', () => {})
    s.end()
  })
  let started = 0
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
  const sample = await timed(CONNS, async () => {
    await Promise.all(Array.from({ length: parallel }, worker))
  })
  await server.close()
  return sample
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

async function compare(label: string, unit: string, measure: (t: Transport) => Promise<Sample>): Promise<void> {
  const base: Sample[] = []
  const ours: Sample[] = []
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
  const b = median(base.map((x) => x.rate))
  const o = median(ours.map((x) => x.rate))
  const bc = median(base.map((x) => x.cpuPerUnit))
  const oc = median(ours.map((x) => x.cpuPerUnit))
  process.stdout.write(
    `${label.padEnd(30)} net ${b.toFixed(0).padStart(6)} ${unit}  bridge ${o.toFixed(0).padStart(6)} ${unit}  ratio ${(o / b).toFixed(2)}x` +
      ` | CPU µs per ${unit.split('/')[0]}: net ${bc.toFixed(1)}  bridge ${oc.toFixed(1)}  ratio ${(bc / oc).toFixed(2)}x\n`,
  )
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
