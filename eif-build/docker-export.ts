/**
 * What `docker create` + `docker export` adds to an image's files: the container's *init layer*
 * (moby `daemon/initlayer/setup_unix.go`), an overlay layer above the image with
 * `dev/ dev/pts/ dev/shm/ proc/ sys/ etc/` (0755), the empty files `.dockerenv`,
 * `etc/resolv.conf`, `etc/hosts`, `etc/hostname`, `dev/console` (0755) and `etc/mtab ->
 * /proc/mounts`, all root-owned. nitro-cli's linuxkit reads that export, so its customer ramdisk
 * has these entries in their walk positions and with these attributes (linuxkit then drops, replaces
 * or re-times all of them). Merging them into the sorted rootfs stream reproduces that order.
 * @module
 */
import { compareNames, type RootfsEntry } from './rootfs.js'

const DIR = { type: 'dir', perm: 0o755 } as const
const FILE = { type: 'file', perm: 0o755 } as const

/** The init layer's entries (mtimes are the container's creation time; linuxkit overwrites them). */
const INIT_LAYER: ReadonlyArray<Omit<RootfsEntry, 'uid' | 'gid' | 'mtime'>> = [
  { path: '.dockerenv', ...FILE },
  { path: 'dev', ...DIR },
  { path: 'dev/console', ...FILE },
  { path: 'dev/pts', ...DIR },
  { path: 'dev/shm', ...DIR },
  { path: 'etc', ...DIR },
  { path: 'etc/hostname', ...FILE },
  { path: 'etc/hosts', ...FILE },
  { path: 'etc/mtab', type: 'symlink', perm: 0o777, linkTarget: '/proc/mounts' },
  { path: 'etc/resolv.conf', ...FILE },
  { path: 'proc', ...DIR },
  { path: 'sys', ...DIR },
]

/**
 * Depth-first walk order: component by component, byte order; a directory before its contents.
 * That is plain string order with `/` ranked below every other character.
 */
export function compareWalkOrder(a: string, b: string): number {
  if (/[\uD800-\uFFFF]/.test(a) || /[\uD800-\uFFFF]/.test(b)) {
    const x = a.split('/')
    const y = b.split('/')
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      const c = compareNames(x[i], y[i])
      if (c !== 0) return c
    }
    return x.length - y.length
  }
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i)
    const cb = b.charCodeAt(i)
    if (ca !== cb) return (ca === 47 ? -1 : ca) - (cb === 47 ? -1 : cb)
  }
  return a.length - b.length
}

/**
 * Overlays the init layer on a rootfs stream in docker-export order (the stream must be in that
 * order). Where both have a path the init layer wins, as the upper overlay layer does: a directory
 * keeps the image's contents with the init layer's attributes; a file hides whatever the image
 * had there, including a directory's contents.
 */
export function* withDockerInitLayer(rootfs: Iterable<RootfsEntry>, mtime = 0): Generator<RootfsEntry> {
  const init: RootfsEntry[] = INIT_LAYER.map((e) => ({ ...e, uid: 0, gid: 0, mtime }))
  let i = 0
  let hidden: string | null = null
  for (const e of rootfs) {
    if (hidden !== null && e.path.startsWith(`${hidden}/`)) continue
    hidden = null
    while (i < init.length && compareWalkOrder(init[i].path, e.path) < 0) yield init[i++]
    if (i < init.length && init[i].path === e.path) {
      const top = init[i++]
      if (top.type !== 'dir' && e.type === 'dir') hidden = e.path
      yield top
      continue
    }
    yield e
  }
  while (i < init.length) yield init[i++]
}
