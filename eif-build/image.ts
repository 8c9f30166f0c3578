/**
 * Container images as rootfs sources: a `docker save` archive or an OCI image layout directory.
 * Layers are applied in order onto an {@link FsTree} with overlay whiteouts (`.wh.<name>` deletes,
 * `.wh..wh..opq` empties a directory of what lower layers put there); owners, modes and mtimes
 * come from the layer entries. Uncompressed layers are read in place; gzip layers are inflated to
 * a private temporary directory first (removed by `close()`), so memory stays bounded.
 * OCI blobs are checked against their sha256 digests, and every layer's uncompressed tar against
 * the config's `rootfs.diff_ids` (what `docker load` checks), before any of it is parsed.
 * @module
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { EifError, fail } from './errors.js'
import { FsTree, normalizeMemberPath } from './rootfs.js'
import { fileSource, openRegularFile, readRegularFile } from './source.js'
import { indexTar, type TarEntry } from './tar.js'

/** What the build needs from an image config (`docker inspect`'s Config). */
export interface ImageInfo {
  /** `Cmd` if present (even empty), else `Entrypoint` (never both, as nitro-cli). */
  cmd: string[]
  env: string[]
  /** OCI architecture: `amd64`, `arm64`, ... */
  architecture: string
  /** e.g. `sha256:...` of the config blob, when known. */
  id: string | null
  /** First repo tag (`docker save`), when present. */
  repoTag: string | null
  /** The parsed config JSON, for the metadata section's DockerInfo. */
  config: Record<string, unknown>
}

export interface LoadedImage {
  info: ImageInfo
  tree: FsTree
  /** Removes temporary inflated layers. */
  close(): Promise<void>
}

export interface ImageOptions {
  /** Architecture to pick from a multi-platform index (default: the host's). */
  architecture?: string
  /** Upper bound on a layer's uncompressed size (default 64 GiB). */
  maxLayerBytes?: number
}

const MAX_JSON = 4 << 20
const LAYER_TYPES: Record<string, 'tar' | 'gzip'> = {
  'application/vnd.oci.image.layer.v1.tar': 'tar',
  'application/vnd.oci.image.layer.v1.tar+gzip': 'gzip',
  'application/vnd.docker.image.rootfs.diff.tar': 'tar',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'gzip',
}

function hostArch(): string {
  return process.arch === 'arm64' ? 'arm64' : 'amd64'
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    // ignoreBOM: a BOM is not JSON (Go's encoding/json, and so docker, refuses it)
    return JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes))
  } catch {
    throw new EifError('ERR_EIF_IMAGE', `${what}: not valid UTF-8 JSON`)
  }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function strings(v: unknown, what: string): string[] | null {
  if (v === undefined || v === null) return null
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) fail('ERR_EIF_IMAGE', `${what} is not an array of strings`)
  return v as string[]
}

const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/

/**
 * The config's `rootfs.diff_ids`: the sha256 of each layer's uncompressed tar, one per manifest
 * layer. They tie the layers to the config, whose digest is the image's identity (ImageVersion).
 */
function diffIds(cfg: unknown, layers: number): string[] {
  const r = isObj(cfg) ? cfg.rootfs : undefined
  if (!isObj(r) || r.type !== 'layers') fail('ERR_EIF_IMAGE', 'image config has no rootfs of type "layers"')
  const ids = strings(r.diff_ids, 'image config rootfs.diff_ids') ?? []
  if (ids.length !== layers) fail('ERR_EIF_IMAGE', `image config lists ${ids.length} layer diff_ids, the manifest ${layers} layers`)
  for (const id of ids) if (!SHA256_DIGEST.test(id)) fail('ERR_EIF_IMAGE', `diff_id ${JSON.stringify(id)} is not a sha256 digest`)
  return ids
}

/** Reads Cmd/Entrypoint/Env/architecture from an image config. */
export function imageInfoFromConfig(cfg: unknown, id: string | null, repoTag: string | null): ImageInfo {
  if (!isObj(cfg)) fail('ERR_EIF_IMAGE', 'image config is not a JSON object')
  const c = cfg.config === undefined || cfg.config === null ? {} : cfg.config
  if (!isObj(c)) fail('ERR_EIF_IMAGE', 'image config "config" is not an object')
  const cmd = strings(c.Cmd, 'Config.Cmd')
  const entry = strings(c.Entrypoint, 'Config.Entrypoint')
  const env = strings(c.Env, 'Config.Env') ?? []
  const architecture = cfg.architecture
  if (typeof architecture !== 'string') fail('ERR_EIF_IMAGE', 'image config has no architecture')
  // nitro-cli (enclave_build docker.rs): `if let Some(cmd) = config.cmd` — a Cmd that is present,
  // even empty, is used as it is; Entrypoint only when Cmd is absent or null
  return { cmd: cmd ?? entry ?? [], env, architecture, id, repoTag, config: cfg }
}

async function sha256Range(path: string, start: number, size: number): Promise<string> {
  const h = createHash('sha256')
  if (size > 0) {
    for await (const c of createReadStream(path, { start, end: start + size - 1, highWaterMark: 1 << 20 })) h.update(c as Buffer)
  }
  return h.digest('hex')
}

async function sniff(path: string, start: number, size: number): Promise<'tar' | 'gzip'> {
  const { fh } = await openRegularFile(path, 'layer', 'ERR_EIF_IMAGE')
  try {
    const b = Buffer.alloc(4)
    await fh.read(b, 0, Math.min(4, size), start)
    if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip'
    if (b.readUInt32BE(0) === 0x28b52ffd) fail('ERR_EIF_LAYER_MEDIA_TYPE', 'zstd-compressed layers are not supported')
    return 'tar'
  } finally {
    await fh.close()
  }
}

/** Flattens layers (file ranges) onto a tree. */
class Flattener {
  readonly tree = new FsTree()
  private tmp: string | null = null
  private n = 0
  constructor(private readonly maxLayerBytes: number) {}

  /** Inflates a gzip layer to a temporary file; returns it and the sha256 of the inflated tar. */
  private async inflate(path: string, start: number, size: number): Promise<{ file: string; digest: string }> {
    this.tmp ??= await mkdtemp(join(tmpdir(), 'nitro-recipient-eif-'))
    const out = join(this.tmp, `layer-${this.n++}.tar`)
    let total = 0
    const limit = this.maxLayerBytes
    const h = createHash('sha256')
    const guard = new Transform({
      transform(chunk: Buffer, _e, cb) {
        total += chunk.length
        h.update(chunk)
        if (total > limit) cb(new EifError('ERR_EIF_TOO_LARGE', `layer inflates to more than ${limit} bytes`))
        else cb(null, chunk)
      },
    })
    try {
      // sniff() only calls a layer gzip after seeing its magic, so size >= 2 here
      const src = createReadStream(path, { start, end: start + size - 1, highWaterMark: 1 << 20 })
      await pipeline(src, createGunzip(), guard, createWriteStream(out, { mode: 0o600 }))
    } catch (e) {
      if (e instanceof EifError) throw e
      throw new EifError('ERR_EIF_IMAGE', `layer does not inflate: ${(e as Error).message}`)
    }
    return { file: out, digest: `sha256:${h.digest('hex')}` }
  }

  /**
   * Applies one layer after checking its uncompressed tar against `diffId`. `knownDigest` is the
   * sha256 of `[start, start+size)` when the caller has just verified it (an uncompressed OCI blob).
   */
  async apply(path: string, start: number, size: number, kind: 'tar' | 'gzip', diffId: string, knownDigest?: string): Promise<void> {
    let file = path
    let s = start
    let len: number | undefined = size
    let digest: string
    if (kind === 'gzip') {
      const inflated = await this.inflate(path, start, size)
      file = inflated.file
      digest = inflated.digest
      s = 0
      len = undefined
    } else {
      digest = knownDigest ?? `sha256:${await sha256Range(path, start, size)}`
    }
    if (digest !== diffId) fail('ERR_EIF_DIGEST_MISMATCH', `layer content is ${digest}, the image config says ${diffId}`)
    const entries = await indexTar(file, s, len)
    this.applyEntries(file, entries)
  }

  private applyEntries(file: string, entries: TarEntry[]): void {
    const adds: Array<{ path: string; e: TarEntry }> = []
    // Whiteouts first: they remove what *lower* layers put there, never this layer's entries.
    for (const e of entries) {
      const path = normalizeMemberPath(e.name)
      const base = posix.basename(path)
      const dir = posix.dirname(path) === '.' ? '' : posix.dirname(path)
      if (base === '.wh..wh..opq') this.tree.clear(dir)
      else if (base.startsWith('.wh..wh.')) continue // other AUFS bookkeeping
      else if (base.startsWith('.wh.')) this.tree.remove(dir === '' ? base.slice(4) : `${dir}/${base.slice(4)}`)
      else adds.push({ path, e })
    }
    for (const { path, e } of adds) {
      const attrs = { perm: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime }
      switch (e.type) {
        case 'file':
          this.tree.add(path, 'file', attrs, { data: fileSource(file, e.dataOffset, e.size) })
          break
        case 'dir':
          this.tree.add(path, 'dir', attrs)
          break
        case 'symlink':
          this.tree.add(path, 'symlink', attrs, { linkTarget: e.linkname })
          break
        case 'fifo':
          this.tree.add(path, 'fifo', attrs)
          break
        case 'hardlink':
          this.tree.link(path, normalizeMemberPath(e.linkname))
          break
        default:
          fail('ERR_EIF_ROOTFS_FILE_TYPE', `${path}: ${e.type} device files cannot go into a ramdisk`)
      }
    }
  }

  async close(): Promise<void> {
    if (this.tmp !== null) await rm(this.tmp, { recursive: true, force: true })
    this.tmp = null
  }
}

async function readRange(path: string, start: number, size: number, what: string): Promise<Buffer> {
  if (size > MAX_JSON) fail('ERR_EIF_IMAGE', `${what} larger than ${MAX_JSON} bytes`)
  const { fh } = await openRegularFile(path, what, 'ERR_EIF_IMAGE')
  try {
    const b = Buffer.alloc(size)
    const { bytesRead } = await fh.read(b, 0, size, start)
    if (bytesRead !== size) fail('ERR_EIF_IMAGE', `${what}: truncated`)
    return b
  } finally {
    await fh.close()
  }
}

/** Loads a `docker save` archive (manifest.json with exactly one image). */
export async function loadDockerArchive(path: string, opts: ImageOptions = {}): Promise<LoadedImage> {
  const entries = await indexTar(path)
  const byName = new Map<string, TarEntry>()
  for (const e of entries) {
    const n = normalizeMemberPath(e.name)
    if (byName.has(n)) fail('ERR_EIF_IMAGE', `docker archive has ${JSON.stringify(n)} twice`)
    byName.set(n, e)
  }
  const member = (name: string, what: string): TarEntry => {
    let n = normalizeMemberPath(name)
    for (let hops = 0; ; hops++) {
      const e = byName.get(n)
      if (e === undefined) fail('ERR_EIF_IMAGE', `docker archive lacks ${what} ${JSON.stringify(name)}`)
      if (e.type === 'file') return e
      // legacy `docker save` links repeated layers with relative symlinks
      if (e.type !== 'symlink' || hops > 8) fail('ERR_EIF_IMAGE', `${what} ${JSON.stringify(name)} is not a regular file`)
      n = normalizeMemberPath(posix.join(posix.dirname(n), e.linkname))
    }
  }
  const m = member('manifest.json', 'manifest')
  const manifest = parseJson(await readRange(path, m.dataOffset, m.size, 'manifest.json'), 'manifest.json')
  if (!Array.isArray(manifest) || manifest.length !== 1 || !isObj(manifest[0])) {
    fail('ERR_EIF_IMAGE', 'manifest.json must list exactly one image')
  }
  const img = manifest[0]
  if (typeof img.Config !== 'string') fail('ERR_EIF_IMAGE', 'manifest.json: Config missing')
  const layers = strings(img.Layers, 'manifest.json Layers') ?? []
  const tags = strings(img.RepoTags, 'manifest.json RepoTags') ?? []
  const ce = member(img.Config, 'config')
  const cfgBytes = await readRange(path, ce.dataOffset, ce.size, 'image config')
  const id = `sha256:${createHash('sha256').update(cfgBytes).digest('hex')}`
  const cfg = parseJson(cfgBytes, 'image config')
  const info = imageInfoFromConfig(cfg, id, tags[0] ?? null)
  const ids = diffIds(cfg, layers.length)
  const flat = new Flattener(opts.maxLayerBytes ?? 64 * 2 ** 30)
  try {
    for (const [i, l] of layers.entries()) {
      const le = member(l, 'layer')
      await flat.apply(path, le.dataOffset, le.size, await sniff(path, le.dataOffset, le.size), ids[i])
    }
  } catch (e) {
    await flat.close()
    throw e
  }
  return { info, tree: flat.tree, close: () => flat.close() }
}

interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: { os?: string; architecture?: string }
}

function descriptor(v: unknown, what: string): Descriptor {
  if (!isObj(v) || typeof v.mediaType !== 'string' || typeof v.digest !== 'string' || typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) {
    fail('ERR_EIF_IMAGE', `${what}: malformed descriptor`)
  }
  if (!SHA256_DIGEST.test(v.digest)) fail('ERR_EIF_IMAGE', `${what}: only sha256 digests are supported`)
  return v as unknown as Descriptor
}

/** Loads an OCI image layout directory; multi-platform indexes pick `opts.architecture` (default: host). */
export async function loadOciLayout(dir: string, opts: ImageOptions = {}): Promise<LoadedImage> {
  /** The blob's path once it is a regular file of the descriptor's size (its digest is the caller's to check). */
  const blob = async (d: Descriptor, what: string): Promise<string> => {
    const p = join(dir, 'blobs', 'sha256', d.digest.slice(7))
    const st = await stat(p).catch(() => fail('ERR_EIF_IMAGE', `${what}: blob ${d.digest} missing`))
    if (!st.isFile()) fail('ERR_EIF_IMAGE', `${what}: blob ${d.digest} is not a regular file`)
    if (st.size !== d.size) fail('ERR_EIF_DIGEST_MISMATCH', `${what}: blob ${d.digest} has ${st.size} bytes, descriptor says ${d.size}`)
    return p
  }
  const readBlob = async (d: Descriptor, what: string): Promise<Buffer> => {
    const b = await readRange(await blob(d, what), 0, d.size, what)
    if (`sha256:${createHash('sha256').update(b).digest('hex')}` !== d.digest) fail('ERR_EIF_DIGEST_MISMATCH', `${what}: content does not match ${d.digest}`)
    return b
  }
  // bounded, and never a FIFO or a link to /dev/zero
  const indexBytes = await readRegularFile(join(dir, 'index.json'), 'OCI layout index', MAX_JSON, 'ERR_EIF_IMAGE')
  let index = parseJson(indexBytes, 'index.json')
  const arch = opts.architecture ?? hostArch()
  let manifestDesc: Descriptor | null = null
  for (let depth = 0; manifestDesc === null; depth++) {
    if (depth > 4 || !isObj(index) || !Array.isArray(index.manifests)) fail('ERR_EIF_IMAGE', 'index.json: no manifests')
    const ds = (index.manifests as unknown[]).map((m, i) => descriptor(m, `index manifests[${i}]`))
    const pick = ds.length === 1 ? ds : ds.filter((d) => d.platform?.os === 'linux' && d.platform?.architecture === arch)
    if (pick.length !== 1) fail('ERR_EIF_IMAGE', `index lists ${ds.length} manifests and ${pick.length} match linux/${arch}: ambiguous`)
    const d = pick[0]
    if (d.mediaType === 'application/vnd.oci.image.index.v1+json' || d.mediaType === 'application/vnd.docker.distribution.manifest.list.v2+json') {
      index = parseJson(await readBlob(d, 'image index'), 'image index')
    } else if (d.mediaType === 'application/vnd.oci.image.manifest.v1+json' || d.mediaType === 'application/vnd.docker.distribution.manifest.v2+json') {
      manifestDesc = d
    } else {
      fail('ERR_EIF_IMAGE', `unsupported manifest media type ${d.mediaType}`)
    }
  }
  const manifest = parseJson(await readBlob(manifestDesc, 'manifest'), 'manifest')
  if (!isObj(manifest) || !Array.isArray(manifest.layers)) fail('ERR_EIF_IMAGE', 'manifest has no layers')
  const cfgDesc = descriptor(manifest.config, 'manifest config')
  const cfgBytes = await readBlob(cfgDesc, 'image config')
  const cfg = parseJson(cfgBytes, 'image config')
  const info = imageInfoFromConfig(cfg, cfgDesc.digest, null)
  const layers = (manifest.layers as unknown[]).map((l, i) => descriptor(l, `layers[${i}]`))
  const ids = diffIds(cfg, layers.length)
  for (const l of layers) {
    if (LAYER_TYPES[l.mediaType] === undefined) fail('ERR_EIF_LAYER_MEDIA_TYPE', `unsupported layer media type ${l.mediaType}`)
  }
  const flat = new Flattener(opts.maxLayerBytes ?? 64 * 2 ** 30)
  try {
    for (const [i, l] of layers.entries()) {
      const p = await blob(l, `layers[${i}]`)
      if (`sha256:${await sha256Range(p, 0, l.size)}` !== l.digest) fail('ERR_EIF_DIGEST_MISMATCH', `layer content does not match ${l.digest}`)
      await flat.apply(p, 0, l.size, LAYER_TYPES[l.mediaType], ids[i], l.digest)
    }
  } catch (e) {
    await flat.close()
    throw e
  }
  return { info, tree: flat.tree, close: () => flat.close() }
}
