/**
 * host-proxy against socat doing the same relay (unix socket -> TCP 127.0.0.1), in one run:
 * bulk throughput over 1 and 32 connections, connection rate, and the peak RSS of each relay
 * process (socat: the listener plus its forked children, summed).
 *
 *   npm run build && node dist/bench/host-proxy.js [--quick]
 *
 * The clients live in this process, the upstream TCP servers in a child process (this file with
 * `--upstream`), and each relay in its own process, started fresh and warmed up for every
 * measurement. Relays alternate so that load from other work on the machine hits both alike.
 * Medians of several rounds are reported, with the CPU time each relay used (utime + stime of
 * the process tree, reaped children included): a figure that load on the machine barely moves.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import * as net from 'node:net'

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 1 : 3
const BULK_BYTES = (quick ? 128 : 1024) * 1024 * 1024
const RATE_CONNECTIONS = quick ? 1000 : 5000
const RATE_CONCURRENCY = 16
const CLK_TCK = 100

interface Relay {
  name: string
  proc: ChildProcess
  sock: string
}

// ---------------------------------------------------------------------------------------------
// The upstream (child process): on the bulk port, reads an 8-byte big-endian length and sends
// that many bytes, then ends; on the rate port, answers "ok" and ends at once.

function runUpstream(): void {
  const CHUNK = Buffer.alloc(1024 * 1024, 0x5a)
  const bulk = net.createServer((s) => {
    s.on('error', () => {})
    let head = Buffer.alloc(0)
    const onData = (c: Buffer): void => {
      head = Buffer.concat([head, c])
      if (head.length < 8) return
      s.removeListener('data', onData)
      s.resume()
      let left = Number(head.readBigUInt64BE(0))
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, CHUNK.length)
          left -= n
          if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
            s.once('drain', pump)
            return
          }
        }
        s.end()
      }
      pump()
    }
    s.on('data', onData)
  })
  const rate = net.createServer((s) => {
    s.on('error', () => {})
    s.resume()
    s.end('ok')
  })
  let ready = 0
  const report = (): void => {
    if (++ready < 2) return
    const p = (srv: net.Server): number => (srv.address() as net.AddressInfo).port
    process.stdout.write(`${p(bulk)} ${p(rate)}\n`)
  }
  bulk.listen({ host: '127.0.0.1', port: 0, backlog: 511 }, report)
  rate.listen({ host: '127.0.0.1', port: 0, backlog: 511 }, report)
  process.stdin.resume()
  process.stdin.on('end', () => process.exit(0))
}

// ---------------------------------------------------------------------------------------------
// Peak memory of a process tree, sampled from /proc.

function descendants(pid: number): number[] {
  const out = [pid]
  for (let i = 0; i < out.length; i++) {
    try {
      for (const tid of readdirSync(`/proc/${out[i]}/task`)) {
        const kids = readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim()
        if (kids !== '') out.push(...kids.split(' ').map(Number))
      }
    } catch {
      // The process exited between listing and reading.
    }
  }
  return out
}

function treeRssKiB(pid: number): number {
  let total = 0
  for (const p of descendants(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))
      if (m) total += Number(m[1])
    } catch {
      // exited
    }
  }
  return total
}

/** CPU seconds used by a process tree so far: its own, its reaped children's, its live children's. */
function treeCpuSeconds(pid: number): number {
  let ticks = 0
  for (const [i, p] of descendants(pid).entries()) {
    try {
      // Fields after the ")" of comm: state is [0], utime [11], stime [12], cutime [13], cstime [14].
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number)
      ticks += f[11] + f[12] + (i === 0 ? f[13] + f[14] : 0)
    } catch {
      // exited
    }
  }
  return ticks / CLK_TCK
}

class PeakRss {
  peakKiB = 0
  readonly #timer: NodeJS.Timeout
  constructor(readonly pid: number) {
    this.#timer = setInterval(() => (this.peakKiB = Math.max(this.peakKiB, treeRssKiB(pid))), 10)
  }
  stop(): number {
    clearInterval(this.#timer)
    this.peakKiB = Math.max(this.peakKiB, treeRssKiB(this.pid))
    return this.peakKiB
  }
}

// ---------------------------------------------------------------------------------------------

function waitListening(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 15_000
    const attempt = (): void => {
      const s = net.connect({ path })
      s.once('connect', () => {
        s.destroy()
        resolve()
      })
      s.once('error', () => {
        s.destroy()
        if (Date.now() > deadline) reject(new Error(`${path} did not start listening`))
        else setTimeout(attempt, 20)
      })
    }
    attempt()
  })
}

async function startRelay(kind: 'host-proxy' | 'socat', dir: string, port: number): Promise<Relay> {
  const sock = join(dir, `${kind}-${Date.now()}.sock`)
  let proc: ChildProcess
  if (kind === 'socat') {
    // socat's default listen backlog is 5; give it the 511 host-proxy (and net) use.
    proc = spawn('socat', [`UNIX-LISTEN:${sock},fork,backlog=511`, `TCP:127.0.0.1:${port}`], { stdio: 'ignore' })
  } else {
    const cfg = join(dir, 'host-proxy.yaml')
    writeFileSync(cfg, `
allowlist: [{address: 127.0.0.1, port: ${port}}]
defaults: {max_connections: 100000}
routes: [{name: bench, listen: "unix:${sock}", target: {address: 127.0.0.1, port: ${port}}}]
`)
    const bin = new URL('../../bin/nitro-recipient.js', import.meta.url).pathname
    // Production logging (info: one JSON line per connection) to /dev/null.
    proc = spawn(process.execPath, [bin, 'proxy', '--config', cfg], { stdio: 'ignore' })
  }
  await waitListening(sock)
  return { name: kind, proc, sock }
}

async function stopRelay(r: Relay): Promise<void> {
  const exited = new Promise<void>((resolve) => r.proc.once('exit', () => resolve()))
  r.proc.kill('SIGTERM')
  await exited
  rmSync(r.sock, { force: true })
}

/** `connections` clients each read `bytes` bytes through the relay; MiB/s overall. */
async function bulk(sock: string, connections: number, bytes: number): Promise<number> {
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({ length: connections }, () => new Promise<void>((resolve, reject) => {
    const s = net.connect({ path: sock })
    const head = Buffer.alloc(8)
    head.writeBigUInt64BE(BigInt(bytes))
    s.write(head)
    let got = 0
    s.on('data', (c: Buffer) => (got += c.length))
    s.once('end', () => {
      s.end()
      if (got === bytes) resolve()
      else reject(new Error(`short read ${got}`))
    })
    s.once('error', reject)
  })))
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  return (bytes * connections) / (1024 * 1024) / seconds
}

/** Opens `count` connections, `RATE_CONCURRENCY` at a time, each reading "ok"; per second. */
async function connectionRate(sock: string, count: number): Promise<number> {
  let started = 0
  const one = (): Promise<void> => new Promise((resolve, reject) => {
    const s = net.connect({ path: sock })
    let got = ''
    s.setEncoding('utf8')
    s.on('data', (c: string) => (got += c))
    s.once('close', () => (got === 'ok' ? resolve() : reject(new Error(`bad answer ${JSON.stringify(got)}`))))
    s.once('error', reject)
  })
  const worker = async (): Promise<void> => {
    while (started < count) {
      started++
      await one()
    }
  }
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({ length: RATE_CONCURRENCY }, worker))
  return count / (Number(process.hrtime.bigint() - t0) / 1e9)
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

type Metric = 'bulk1' | 'bulk32' | 'rate'

interface Sample {
  value: number
  rssKiB: number
  /** Relay CPU seconds spent on the measured work. */
  cpu: number
}

async function measure(kind: 'host-proxy' | 'socat', metric: Metric, dir: string, ports: { bulk: number; rate: number }): Promise<Sample> {
  const relay = await startRelay(kind, dir, metric === 'rate' ? ports.rate : ports.bulk)
  const pid = relay.proc.pid!
  const rss = new PeakRss(pid)
  const run = (scale: number): Promise<number> => {
    if (metric === 'rate') return connectionRate(relay.sock, Math.max(100, Math.round(RATE_CONNECTIONS * scale)))
    const n = metric === 'bulk1' ? 1 : 32
    return bulk(relay.sock, n, Math.round((BULK_BYTES * scale) / n))
  }
  await run(0.1) // warm-up (JIT, buffers), not measured
  await new Promise((r) => setTimeout(r, 100))
  const cpu0 = treeCpuSeconds(pid)
  const value = await run(1)
  // Let socat reap its forked children so their CPU time is counted.
  await new Promise((r) => setTimeout(r, 200))
  const cpu = treeCpuSeconds(pid) - cpu0
  const rssKiB = rss.stop()
  await stopRelay(relay)
  return { value, rssKiB, cpu }
}

async function startUpstream(): Promise<{ proc: ChildProcess; bulk: number; rate: number }> {
  const proc = spawn(process.execPath, [new URL(import.meta.url).pathname, '--upstream'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const line = await new Promise<string>((resolve) => proc.stdout!.once('data', (d: Buffer) => resolve(d.toString())))
  const [bulkPort, ratePort] = line.trim().split(' ').map(Number)
  return { proc, bulk: bulkPort, rate: ratePort }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hp-bench-'))
  const up = await startUpstream()
  const load0 = loadavg()[0]
  const results: Record<string, { hp: Sample[]; socat: Sample[] }> = {}
  const metrics: Metric[] = ['bulk1', 'bulk32', 'rate']
  try {
    for (const m of metrics) {
      const r = (results[m] = { hp: [] as Sample[], socat: [] as Sample[] })
      for (let i = 0; i < ROUNDS; i++) {
        // Alternate who goes first, so drift in machine load does not favour one side.
        const order: ('host-proxy' | 'socat')[] = i % 2 === 0 ? ['host-proxy', 'socat'] : ['socat', 'host-proxy']
        for (const kind of order) (kind === 'host-proxy' ? r.hp : r.socat).push(await measure(kind, m, dir, up))
      }
    }
  } finally {
    up.proc.stdin!.end()
    rmSync(dir, { recursive: true, force: true })
  }
  const label: Record<Metric, string> = {
    bulk1: `bulk throughput, 1 connection (${BULK_BYTES / 1048576} MiB)`,
    bulk32: `bulk throughput, 32 connections (${BULK_BYTES / 1048576} MiB total)`,
    rate: `connection rate (${RATE_CONNECTIONS} connections, ${RATE_CONCURRENCY} concurrent)`,
  }
  const unit: Record<Metric, string> = { bulk1: 'MiB/s', bulk32: 'MiB/s', rate: 'conn/s' }
  // CPU per unit of work: seconds per GiB (bulk), milliseconds per 1000 connections (rate).
  const perWork = (m: Metric, x: Sample): number => (m === 'rate' ? (x.cpu * 1000) / (RATE_CONNECTIONS / 1000) : x.cpu / (BULK_BYTES / 2 ** 30))
  const cpuUnit: Record<Metric, string> = { bulk1: 's/GiB', bulk32: 's/GiB', rate: 'ms/1000 conn' }
  console.log(`host-proxy vs socat (unix -> tcp 127.0.0.1 relay), median of ${ROUNDS} round(s); ` +
    `load average before ${load0.toFixed(2)}, after ${loadavg()[0].toFixed(2)} (${cpus().length} CPUs)`)
  console.log('| measurement | host-proxy | socat | ratio | relay CPU host-proxy | relay CPU socat | CPU ratio (socat / host-proxy) | peak RSS host-proxy | peak RSS socat (all processes) |')
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  for (const m of metrics) {
    const r = results[m]
    const hp = median(r.hp.map((x) => x.value))
    const so = median(r.socat.map((x) => x.value))
    const hpCpu = median(r.hp.map((x) => perWork(m, x)))
    const soCpu = median(r.socat.map((x) => perWork(m, x)))
    const rss = (xs: Sample[]): string => `${(Math.max(...xs.map((x) => x.rssKiB)) / 1024).toFixed(1)} MiB`
    console.log(`| ${label[m]} | ${hp.toFixed(0)} ${unit[m]} | ${so.toFixed(0)} ${unit[m]} | **${(hp / so).toFixed(2)}x** | ` +
      `${hpCpu.toFixed(2)} ${cpuUnit[m]} | ${soCpu.toFixed(2)} ${cpuUnit[m]} | ${(soCpu / hpCpu).toFixed(2)}x | ${rss(r.hp)} | ${rss(r.socat)} |`)
  }
}

if (process.argv.includes('--upstream')) runUpstream()
else await main()
