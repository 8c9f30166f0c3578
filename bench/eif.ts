/**
 * EIF benchmarks, each against a named baseline in the same run (all as child processes, timed
 * wall-clock, peak RSS from GNU time's %M):
 *   1. measure: `nitro-recipient eif pcrs` (PCR0/1/2 + CRC + layout checks) on a 512 MiB EIF
 *      vs `sha384sum` of the same file (one SHA-384 pass). Target <= 1.2x.
 *   2. build: `nitro-recipient eif build` from a 20,000-file rootfs vs
 *      `find . | cpio -o -H newc > out && sha384sum out`. Target <= 1.5x.
 * Page cache is warmed first; each side runs BENCH_RUNS times (default 3), alternating, and the
 * median is reported. Data lives under os.tmpdir() and is deleted at the end.
 *
 * Run: npm run bench:eif   (builds, then node dist/bench/eif.js)
 * @module
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { bufferSource } from '../eif-build/source.js'
import { writeEif } from '../eif-build/writer.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const EIF_MIB = Number(process.env.BENCH_EIF_MIB ?? 512)
const FILES = Number(process.env.BENCH_FILES ?? 20000)
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const cli = join(root, 'bin', 'nitro-recipient.js')

interface Sample {
  wall: number
  rssKiB: number
  /** user + system CPU seconds */
  cpu: number
}

/** Runs argv under GNU time; returns wall seconds and peak RSS. */
function timed(argv: string[], cwd?: string): Sample {
  const start = process.hrtime.bigint()
  const r = spawnSync('/usr/bin/time', ['-f', 'RSS=%M CPU=%U+%S', ...argv], { cwd, encoding: 'utf8', maxBuffer: 1 << 26 })
  const wall = Number(process.hrtime.bigint() - start) / 1e9
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`)
  const m = /RSS=(\d+) CPU=([\d.]+)\+([\d.]+)/.exec(r.stderr)
  return { wall, rssKiB: m ? Number(m[1]) : NaN, cpu: m ? Number(m[2]) + Number(m[3]) : NaN }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function compare(name: string, ours: string[], base: string[], cwd?: string): { ours: Sample; base: Sample; ratio: number } {
  timed(base, cwd) // warm caches and binaries
  timed(ours, cwd)
  const o: Sample[] = []
  const b: Sample[] = []
  for (let i = 0; i < RUNS; i++) {
    b.push(timed(base, cwd))
    o.push(timed(ours, cwd))
  }
  const sum = (xs: Sample[]): Sample => ({
    wall: median(xs.map((s) => s.wall)),
    rssKiB: Math.max(...xs.map((s) => s.rssKiB)),
    cpu: median(xs.map((s) => s.cpu)),
  })
  const res = { ours: sum(o), base: sum(b), ratio: 0 }
  res.ratio = res.ours.wall / res.base.wall
  const show = (s: Sample): string => `${s.wall.toFixed(3)} s wall, ${s.cpu.toFixed(2)} s CPU, peak RSS ${(s.rssKiB / 1024).toFixed(0)} MiB`
  console.log(`${name}:\n  ours     ${show(res.ours)}\n  baseline ${show(res.base)}\n  wall ratio ${res.ratio.toFixed(2)}x (median of ${RUNS}), CPU ratio ${(res.ours.cpu / res.base.cpu).toFixed(2)}x`)
  return res
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nr-bench-eif-'))
  try {
    console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}, node ${process.version}, runs ${RUNS}`)
    // stand-in blobs
    const blobs = join(dir, 'blobs')
    mkdirSync(blobs)
    writeFileSync(join(blobs, 'bzImage'), randomBytes(8 << 20))
    writeFileSync(join(blobs, 'cmdline'), 'reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on\n')
    writeFileSync(join(blobs, 'init'), randomBytes(742968))
    writeFileSync(join(blobs, 'nsm.ko'), randomBytes(20504))

    // 1. a 512 MiB EIF: 8 MiB kernel, small bootstrap ramdisk, the rest one customer ramdisk
    const eif = join(dir, 'big.eif')
    const block = randomBytes(8 << 20)
    const customer = (EIF_MIB << 20) - (8 << 20) - (1 << 20)
    await writeEif(eif, {
      kernel: bufferSource(randomBytes(8 << 20)),
      cmdline: 'console=ttyS0',
      metadata: Buffer.from('{}'),
      arch: 'x86_64',
      ramdisks: [
        bufferSource(randomBytes(764416)),
        async (out) => {
          for (let done = 0; done < customer; done += block.length) await out(block.subarray(0, Math.min(block.length, customer - done)))
        },
      ],
    })
    const m = compare(`measure ${EIF_MIB} MiB EIF`, ['node', cli, 'eif', 'pcrs', eif], ['sha384sum', eif])

    // 2. build from a 20,000-file rootfs (100 files per directory, 1..4096 bytes each)
    const rootfs = join(dir, 'rootfs')
    let bytes = 0
    for (let d = 0; d < FILES / 100; d++) {
      const sub = join(rootfs, `d${String(d).padStart(3, '0')}`)
      mkdirSync(sub, { recursive: true })
      for (let f = 0; f < 100; f++) {
        const n = 1 + ((d * 7919 + f * 104729) % 4096)
        bytes += n
        writeFileSync(join(sub, `f${f}`), block.subarray(f * 4096, f * 4096 + n))
      }
    }
    console.log(`rootfs: ${FILES} files, ${(bytes / 1048576).toFixed(1)} MiB`)
    const out = join(dir, 'out')
    const b = compare(
      `build from ${FILES} files`,
      ['node', cli, 'eif', 'build', '--blobs', blobs, '--rootfs', rootfs, '--cmd', '/bin/app', '--output', `${out}.eif`],
      ['sh', '-c', `find . | cpio -o -H newc --quiet > '${out}.cpio' && sha384sum '${out}.cpio' > /dev/null`],
      rootfs,
    )
    console.log(`RESULT measure_ratio=${m.ratio.toFixed(2)} build_ratio=${b.ratio.toFixed(2)} load=${loadavg()[0].toFixed(2)}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
