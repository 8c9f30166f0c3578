/**
 * A root filesystem as a stream of entries in docker-export order (depth first, names byte-sorted
 * within each directory, directory before its contents, the root itself not listed). Two kinds of
 * source produce it: a directory on disk ({@link directoryRootfs}, walked lazily) and a tree
 * flattened from image layers ({@link FsTree}). Paths are checked on the way in: no absolute
 * names, no `..`, no NUL, no device files or sockets, no symlink that climbs out of the root.
 * @module
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs'
import { EifError, fail } from './errors.js'
import { fileSource, type DataSource } from './source.js'

export type RootfsType = 'file' | 'dir' | 'symlink' | 'fifo'

export interface RootfsEntry {
  /** Relative path, `/`-separated, no leading `./`, no trailing `/`. */
  path: string
  type: RootfsType
  perm: number
  uid: number
  gid: number
  mtime: number
  data?: DataSource
  linkTarget?: string
  /**
   * Identity shared by hard-linked files (same object / same key); `links` is the group size when
   * known.
   */
  inode?: unknown
  links?: number
}

/** Byte-wise comparison of UTF-8 names (Go's sort.Strings order, which docker's walk follows). */
export function compareNames(a: string, b: string): number {
  // UTF-16 code-unit order equals UTF-8 byte order unless a surrogate meets U+E000..U+FFFF.
  if (!NON_BMP_ORDER.test(a) && !NON_BMP_ORDER.test(b)) return a < b ? -1 : a > b ? 1 : 0
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}
const NON_BMP_ORDER = /[\uD800-\uFFFF]/

/**
 * Normalises an archive member name: strips leading `./` and `/`-suffix; rejects absolute paths,
 * `.`/`..`/empty components and NUL. Returns '' for the root itself.
 */
export function normalizeMemberPath(name: string): string {
  let n = name
  while (n.startsWith('./')) n = n.slice(2)
  if (n === '.' || n === '') return ''
  if (n.endsWith('/')) n = n.slice(0, -1)
  if (n.startsWith('/')) fail('ERR_EIF_ROOTFS_PATH', `absolute path in archive: ${JSON.stringify(name)}`)
  if (n.includes('\0')) fail('ERR_EIF_ROOTFS_PATH', 'NUL in archive path')
  for (const c of n.split('/')) {
    if (c === '..' || c === '.' || c === '') fail('ERR_EIF_ROOTFS_PATH', `unsafe path in archive: ${JSON.stringify(name)}`)
  }
  return n
}

/**
 * Rejects a symlink whose target, resolved lexically inside the root (absolute targets from the
 * root, relative ones from the link's directory), would climb above the root.
 */
export function checkSymlinkTarget(path: string, target: string): void {
  if (target.length === 0 || target.includes('\0')) fail('ERR_EIF_ROOTFS_SYMLINK', `${path}: empty or NUL symlink target`)
  const stack = target.startsWith('/') ? [] : path.split('/').slice(0, -1)
  for (const c of target.split('/')) {
    if (c === '' || c === '.') continue
    if (c === '..') {
      if (stack.length === 0) fail('ERR_EIF_ROOTFS_SYMLINK', `${path}: symlink target ${JSON.stringify(target)} escapes the rootfs`)
      stack.pop()
    } else {
      stack.push(c)
    }
  }
}

/** Owner, mode and time of an entry. */
export interface Attrs {
  perm: number
  uid: number
  gid: number
  mtime: number
}

/**
 * Walks `root` lazily (synchronously) in docker-export order. Never follows symlinks (lstat), records hard links
 * by (dev, ino), rejects devices and sockets.
 */
export function* directoryRootfs(root: string): Generator<RootfsEntry> {
  let rootSt
  try {
    rootSt = lstatSync(root)
  } catch (e) {
    throw new EifError('ERR_EIF_INPUT', `${root}: ${(e as NodeJS.ErrnoException).code ?? 'cannot stat'}`)
  }
  if (!rootSt.isDirectory()) fail('ERR_EIF_INPUT', `${root}: not a directory`)
  yield* walk(root, '')
}

// Synchronous metadata calls on purpose: a rootfs walk is tens of thousands of tiny lstat/readdir
// calls, and a threadpool round trip for each costs more than the call itself.
function* walk(abs: string, rel: string): Generator<RootfsEntry> {
  let names: string[]
  try {
    names = readdirSync(abs)
  } catch (e) {
    throw new EifError('ERR_EIF_INPUT', `${rel || '.'}: cannot read directory: ${(e as NodeJS.ErrnoException).code ?? 'error'}`)
  }
  names.sort(compareNames)
  for (const name of names) {
    const p = rel === '' ? name : `${rel}/${name}`
    const a = `${abs}/${name}` // abs is the root or built here: no normalisation needed
    let st
    try {
      st = lstatSync(a)
    } catch (err) {
      // readdir decodes names as UTF-8; a name that is not UTF-8 comes back altered and is not found
      throw new EifError('ERR_EIF_ROOTFS_PATH', `${p}: cannot stat (${(err as NodeJS.ErrnoException).code ?? 'error'}): a name that is not UTF-8, or a file removed during the build`)
    }
    const attrs = {
      perm: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
    }
    if (st.isDirectory()) {
      yield { path: p, type: 'dir', ...attrs }
      yield* walk(a, p)
    } else if (st.isFile()) {
      const size = st.size
      const e: RootfsEntry = { path: p, type: 'file', ...attrs, data: fileSource(a, 0, size) }
      if (st.nlink > 1) {
        // exact identity (inode numbers can exceed 2^53)
        const big = lstatSync(a, { bigint: true })
        e.inode = `${big.dev}:${big.ino}`
        e.links = st.nlink
      }
      yield e
    } else if (st.isSymbolicLink()) {
      let target: string
      try {
        target = readlinkSync(a, { encoding: 'buffer' }).toString('utf8')
      } catch (err) {
        throw new EifError('ERR_EIF_ROOTFS_PATH', `${p}: cannot read link (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
      }
      if (target.includes('\uFFFD')) fail('ERR_EIF_ROOTFS_SYMLINK', `${p}: symlink target is not UTF-8`)
      checkSymlinkTarget(p, target)
      yield { path: p, type: 'symlink', ...attrs, linkTarget: target }
    } else if (st.isFIFO()) {
      yield { path: p, type: 'fifo', ...attrs }
    } else {
      fail('ERR_EIF_ROOTFS_FILE_TYPE', `${p}: device files and sockets cannot go into a ramdisk`)
    }
  }
}

interface Node extends Attrs {
  type: RootfsType
  data?: DataSource
  linkTarget?: string
  inode?: object
  children?: Map<string, Node>
}

/**
 * An in-memory tree of metadata (file contents stay where they are, as {@link DataSource}s),
 * used to flatten image layers with overlay whiteout semantics.
 */
export class FsTree {
  private readonly root: Node = { type: 'dir', perm: 0o755, uid: 0, gid: 0, mtime: 0, children: new Map() }
  private count = 0

  constructor(private readonly maxEntries = 5_000_000) {}

  private lookup(path: string): Node | undefined {
    let n: Node | undefined = this.root
    if (path === '') return n
    for (const c of path.split('/')) {
      n = n?.children?.get(c)
      if (n === undefined) return undefined
    }
    return n
  }

  /** Parent directory of `path`, created (0755, root-owned, time 0) where missing. */
  private parentOf(path: string): { dir: Node; base: string } {
    const parts = path.split('/')
    const base = parts.pop() as string
    let n = this.root
    for (const c of parts) {
      let next = n.children?.get(c)
      if (next === undefined) {
        next = { type: 'dir', perm: 0o755, uid: 0, gid: 0, mtime: 0, children: new Map() }
        n.children?.set(c, next)
        this.count++
      } else if (next.type !== 'dir') {
        fail('ERR_EIF_IMAGE', `layer entry ${JSON.stringify(path)} is below a non-directory`)
      }
      n = next
    }
    return { dir: n, base }
  }

  /** Removes `path` (a whiteout). Missing paths are fine: the whiteout may target nothing. */
  remove(path: string): void {
    if (path === '') fail('ERR_EIF_IMAGE', 'whiteout of the root')
    const n = this.lookup(path.split('/').slice(0, -1).join('/'))
    n?.children?.delete(path.split('/').pop() as string)
  }

  /** Empties directory `path` (an opaque whiteout), keeping the directory itself. */
  clear(path: string): void {
    const n = this.lookup(path)
    if (n?.type === 'dir') n.children = new Map()
  }

  /** Adds or replaces an entry. A directory over a directory keeps the children. */
  add(path: string, type: RootfsType, attrs: Attrs, extra: { data?: DataSource; linkTarget?: string } = {}): void {
    if (path === '') {
      if (type !== 'dir') fail('ERR_EIF_IMAGE', 'root entry is not a directory')
      return
    }
    if (++this.count > this.maxEntries) fail('ERR_EIF_IMAGE', `more than ${this.maxEntries} rootfs entries`)
    if (type === 'symlink') checkSymlinkTarget(path, extra.linkTarget ?? '')
    const { dir, base } = this.parentOf(path)
    const old = dir.children?.get(base)
    const node: Node = { type, ...attrs, ...extra }
    if (type === 'dir') node.children = old?.type === 'dir' ? old.children : new Map()
    if (type === 'file') node.inode = {}
    dir.children?.set(base, node)
  }

  /** Adds a hard link `path` to the regular file at `target` (same inode: contents and attrs). */
  link(path: string, target: string): void {
    const t = this.lookup(target)
    if (t === undefined || t.type !== 'file') fail('ERR_EIF_ROOTFS_HARDLINK', `${path}: hard link to ${JSON.stringify(target)}, which is not a regular file of the image`)
    if (++this.count > this.maxEntries) fail('ERR_EIF_IMAGE', `more than ${this.maxEntries} rootfs entries`)
    const { dir, base } = this.parentOf(path)
    if (t === dir.children?.get(base)) return
    dir.children?.set(base, { ...t })
  }

  /** The flattened tree in docker-export order. */
  *entries(): Generator<RootfsEntry> {
    const links = new Map<object, number>()
    const countLinks = (n: Node): void => {
      for (const c of n.children?.values() ?? []) {
        if (c.inode) links.set(c.inode, (links.get(c.inode) ?? 0) + 1)
        if (c.children) countLinks(c)
      }
    }
    countLinks(this.root)
    function* walkTree(n: Node, rel: string): Generator<RootfsEntry> {
      const names = [...(n.children?.keys() ?? [])].sort(compareNames)
      for (const name of names) {
        const c = n.children?.get(name) as Node
        const p = rel === '' ? name : `${rel}/${name}`
        const e: RootfsEntry = { path: p, type: c.type, perm: c.perm, uid: c.uid, gid: c.gid, mtime: c.mtime }
        if (c.data) e.data = c.data
        if (c.linkTarget !== undefined) e.linkTarget = c.linkTarget
        const k = c.inode ? (links.get(c.inode) ?? 1) : 1
        if (c.inode && k > 1) {
          e.inode = c.inode
          e.links = k
        }
        yield e
        if (c.type === 'dir') yield* walkTree(c, p)
      }
    }
    yield* walkTree(this.root, '')
  }
}
