/**
 * The two ramdisks nitro-cli puts in an EIF, laid out as linuxkit v1.5.2 (with AWS's prefix and
 * no-gzip patches) lays them out, so that equal inputs give nitro-cli's bytes where the inputs are
 * the same (see docs/ARCHITECTURE.md for what is and is not proven):
 *
 * - bootstrap: `dev/` (0755), `init` (0755), `nsm.ko` (0755), all root-owned at linuxkit's
 *   default time 2017-04-18T16:30:00Z;
 * - customer: `rootfs`, the image's files as `docker export` of a container shows them (with
 *   docker's init layer: see docker-export.ts) renamed `rootfs/<path>` (directories with docker's
 *   trailing `/`), linuxkit's fix-ups (`.dockerenv`, `Dockerfile`, `dev/console`, `etc/hostname`
 *   dropped; `etc/hosts` replaced; `etc/resolv.conf` a symlink; fixed time on the "touch" paths,
 *   missing ones added), then `rootfs` again, `rootfs/{dev,run,sys,var,proc,tmp}`, `cmd`, `env`.
 *
 * Hard links become relative symlinks, as linuxkit's initrd writer does; `hardlinks: 'preserve'`
 * writes real newc hard links instead (same inode, data on the first member).
 * @module
 */
import { posix } from 'node:path'
import { CpioWriter, type CpioEntry } from './cpio.js'
import { withDockerInitLayer } from './docker-export.js'
import { fail } from './errors.js'
import type { RootfsEntry } from './rootfs.js'
import { bufferSource, type DataSource } from './source.js'

/** linuxkit's `defaultModTime`, 2017-04-18T16:30:00Z. */
export const LINUXKIT_MTIME = 1492533000
/** What linuxkit points `etc/resolv.conf` at in init images. */
export const RESOLV_SYMLINK = '/run/resolvconf/resolv.conf'
export const LINUXKIT_HOSTS = `127.0.0.1       localhost
::1     localhost ip6-localhost ip6-loopback
fe00::0 ip6-localnet
ff00::0 ip6-mcastprefix
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
`

const EXCLUDE = new Set(['.dockerenv', 'Dockerfile', 'dev/console', 'etc/hostname'])

interface Touch {
  name: string
  type: 'dir' | 'file' | 'symlink'
  perm: number
  link?: string
}
/** linuxkit's `touch` map, keyed by docker-export name; iterated in sorted key order. */
const TOUCH: ReadonlyArray<[string, Touch]> = [
  ['dev/', { name: 'dev', type: 'dir', perm: 0o755 }],
  ['dev/pts/', { name: 'dev/pts', type: 'dir', perm: 0o755 }],
  ['dev/shm/', { name: 'dev/shm', type: 'dir', perm: 0o755 }],
  ['etc/', { name: 'etc', type: 'dir', perm: 0o755 }],
  ['etc/hosts', { name: 'etc/hosts', type: 'file', perm: 0o644 }],
  ['etc/mtab', { name: 'etc/mtab', type: 'symlink', perm: 0o755, link: '/proc/mounts' }],
  ['etc/resolv.conf', { name: 'etc/resolv.conf', type: 'symlink', perm: 0o644, link: RESOLV_SYMLINK }],
  ['proc/', { name: 'proc', type: 'dir', perm: 0o755 }],
  ['sys/', { name: 'sys', type: 'dir', perm: 0o755 }],
]
const TOUCH_KEYS = new Set(TOUCH.map(([k]) => k))

export type HardlinkMode = 'symlink' | 'preserve'

type Out = (chunk: Buffer) => Promise<void>

function fixed(name: string, type: 'dir' | 'file', perm: number, data?: DataSource): CpioEntry {
  const e: CpioEntry = { name, type, perm, uid: 0, gid: 0, mtime: LINUXKIT_MTIME }
  if (data) e.data = data
  return e
}

/** Writes the bootstrap ramdisk (`dev`, `init`, `nsm.ko`). Returns its size. */
export async function writeBootstrapRamdisk(out: Out, init: DataSource, nsmKo: DataSource): Promise<number> {
  const w = new CpioWriter(out)
  await w.add(fixed('dev', 'dir', 0o755))
  await w.add(fixed('init', 'file', 0o755, init))
  await w.add(fixed('nsm.ko', 'file', 0o755, nsmKo))
  return w.finish()
}

/** `/cmd` and `/env` as nitro-cli writes them: one element per line, each ending in `\n`. */
export function linesFile(items: string[], what: 'cmd' | 'env'): Buffer {
  for (const s of items) {
    if (s.includes('\n') || s.includes('\0')) fail('ERR_EIF_INPUT', `${what} element contains a newline or NUL`)
    if (what === 'env' && !/^[^=]+=/.test(s)) fail('ERR_EIF_INPUT', `env element ${JSON.stringify(s)} is not KEY=VALUE`)
  }
  return Buffer.from(items.map((s) => `${s}\n`).join(''), 'utf8')
}

export interface CustomerRamdiskOptions {
  cmd: string[]
  env: string[]
  hardlinks?: HardlinkMode
  /**
   * Overlay docker's container init layer first, as `docker export` (and so nitro-cli) does
   * (default true). Without it, linuxkit's fix-ups add the missing paths at the end instead.
   */
  dockerInitLayer?: boolean
  /** Called after each rootfs entry, for progress. */
  onEntry?: () => void
}

/** Writes the customer ramdisk from a rootfs stream. Returns its size. */
export async function writeCustomerRamdisk(out: Out, rootfs: Iterable<RootfsEntry>, opts: CustomerRamdiskOptions): Promise<number> {
  const cmd = linesFile(opts.cmd, 'cmd')
  const env = linesFile(opts.env, 'env')
  const mode = opts.hardlinks ?? 'symlink'
  const w = new CpioWriter(out)
  const P = 'rootfs/'
  await w.add(fixed('rootfs', 'dir', 0o755))
  const touched = new Set<string>()
  const firstOfInode = new Map<unknown, { name: string; ino: number }>()
  const entries = opts.dockerInitLayer === false ? rootfs : withDockerInitLayer(rootfs)
  /** The cpio entry for one rootfs entry after linuxkit's rules, or null when it is dropped. */
  const convert = (e: RootfsEntry): CpioEntry | null => {
    const key = e.type === 'dir' ? `${e.path}/` : e.path
    if (EXCLUDE.has(key)) return null
    const name = P + key
    const base: CpioEntry = { name, type: e.type, perm: e.perm, uid: e.uid, gid: e.gid, mtime: e.mtime }
    if (key === 'etc/hosts' || key === 'etc/resolv.conf') {
      // linuxkit's `replace` (+ AWS patch 0003: counts as touched)
      touched.add(key)
      base.mtime = LINUXKIT_MTIME
      if (key === 'etc/resolv.conf') return { ...base, type: 'symlink', linkTarget: RESOLV_SYMLINK }
      if (e.type === 'file') return { ...base, data: bufferSource(Buffer.from(LINUXKIT_HOSTS)) }
      return e.type === 'symlink' ? { ...base, linkTarget: e.linkTarget } : base
    }
    if (TOUCH_KEYS.has(key)) {
      touched.add(key)
      base.mtime = LINUXKIT_MTIME
    }
    if (e.type === 'symlink') return { ...base, linkTarget: e.linkTarget }
    if (e.type !== 'file') return base
    const first = e.inode !== undefined ? firstOfInode.get(e.inode) : undefined
    if (first === undefined) {
      if (e.inode !== undefined) firstOfInode.set(e.inode, { name, ino: w.nextIno })
      if (e.data) base.data = e.data
      if (mode === 'preserve' && e.inode !== undefined) base.nlink = e.links ?? 2
      return base
    }
    // linuxkit initrd.go: a tar hard link becomes a symlink relative to the link's directory
    if (mode === 'symlink') return { ...base, type: 'symlink', linkTarget: posix.relative(posix.dirname(name), first.name) }
    return { ...base, ino: first.ino, nlink: e.links ?? 2 }
  }
  // Sources list each path once by construction (a directory walk, or a tree's map keys). The
  // loop only yields to the event loop when the cpio writer flushes.
  for (const e of entries) {
    opts.onEntry?.()
    const c = convert(e)
    if (c === null) continue
    const p = w.add(c)
    if (p) await p
  }
  for (const [key, t] of TOUCH) {
    if (touched.has(key)) continue
    const e: CpioEntry = { name: P + t.name, type: t.type, perm: t.perm, uid: 0, gid: 0, mtime: LINUXKIT_MTIME }
    if (key === 'etc/hosts') e.data = bufferSource(Buffer.from(LINUXKIT_HOSTS))
    if (t.link !== undefined) e.linkTarget = t.link
    await w.add(e)
  }
  // nitro-cli's `files:` section; linuxkit emits the missing parent `rootfs` again
  await w.add(fixed('rootfs', 'dir', 0o755))
  for (const d of ['dev', 'run', 'sys', 'var', 'proc', 'tmp']) await w.add(fixed(`rootfs/${d}`, 'dir', 0o755))
  await w.add(fixed('cmd', 'file', 0o644, bufferSource(cmd)))
  await w.add(fixed('env', 'file', 0o644, bufferSource(env)))
  return w.finish()
}

