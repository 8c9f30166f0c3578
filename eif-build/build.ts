/**
 * `buildEif`: from a kernel, cmdline, init, nsm.ko and a rootfs (directory, `docker save` archive
 * or OCI layout) to an EIF with nitro-cli's layout and measurements. Ramdisks are generated while
 * the EIF is written; nothing is staged in memory or on disk except inflated gzip layers.
 * @module
 */
import { stat } from 'node:fs/promises'
import { basename, isAbsolute, join, relative, resolve } from 'node:path'
import { EifError, fail } from './errors.js'
import { loadDockerArchive, loadOciLayout, type ImageInfo, type LoadedImage } from './image.js'
import type { Measurements } from './measure.js'
import { buildTime, encodeMetadata, kernelInfo, sortKeys } from './metadata.js'
import { writeBootstrapRamdisk, writeCustomerRamdisk, type HardlinkMode } from './ramdisk.js'
import { directoryRootfs, type RootfsEntry } from './rootfs.js'
import { loadSigningMaterial } from './signature.js'
import { fileSource, readRegularFile, type DataSource } from './source.js'
import { writeEif } from './writer.js'

/** Largest certificate or key PEM file read (a signature section holds at most 32 KiB anyway). */
const MAX_PEM = 1 << 20

export type RootfsInput = { kind: 'directory'; path: string } | { kind: 'docker-archive'; path: string } | { kind: 'oci-layout'; path: string }

export interface BuildOptions {
  /** nitro-cli's blobs directory (bzImage or Image, cmdline, init, nsm.ko); single-file options override it. */
  blobs?: string
  kernel?: string
  /** A cmdline file; its contents are trimmed as nitro-cli trims them. */
  cmdline?: string
  init?: string
  nsmKo?: string
  rootfs: RootfsInput
  /** Overrides the image's Cmd/Entrypoint. Required for a directory rootfs. */
  cmd?: string[]
  /** Overrides the image's Env. */
  env?: string[]
  name?: string
  version?: string
  /** Target architecture: for a directory rootfs, and the platform an image index is read for (the image must be of it). Default: the host's. */
  arch?: 'x86_64' | 'aarch64'
  signingCertificate?: string
  privateKey?: string
  output: string
  hardlinks?: HardlinkMode
  /** Defaults to process.env.SOURCE_DATE_EPOCH. */
  sourceDateEpoch?: string
  buildTool?: { name: string; version: string }
  onProgress?: (bytes: number) => void
}

export interface BuildResult {
  measurements: Measurements
  size: number
  imageName: string
  imageVersion: string
}

async function regularFile(path: string, what: string): Promise<DataSource> {
  const st = await stat(path).catch(() => fail('ERR_EIF_INPUT', `${what} ${path}: not found`))
  if (!st.isFile()) fail('ERR_EIF_INPUT', `${what} ${path}: not a regular file`)
  return fileSource(path, 0, st.size)
}

/**
 * nitro-cli: `cmdline.trim()`. Rust trims the Unicode White_Space characters, which JS `trim`
 * does not match outside ASCII (JS also strips U+FEFF, a BOM; Rust also strips U+0085).
 */
export function trimCmdline(raw: Buffer): string {
  let s: string
  try {
    // ignoreBOM: a leading BOM is data to Rust's read_to_string, not something to drop
    s = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw)
  } catch {
    throw new EifError('ERR_EIF_INPUT', 'cmdline is not UTF-8')
  }
  s = s.replace(/^\p{White_Space}+|\p{White_Space}+$/gu, '')
  if (s.includes('\0')) fail('ERR_EIF_INPUT', 'cmdline contains a NUL byte')
  return s
}

/**
 * writeEif truncates its output, and removes it on failure: the output must not be one of the
 * inputs (same file, through any path, symlink or hard link).
 */
async function outputIsNotAnInput(output: string, inputs: Array<[string, string | undefined]>): Promise<void> {
  const out = await stat(output, { bigint: true }).catch(() => null)
  if (out === null) return
  for (const [what, path] of inputs) {
    if (path === undefined) continue
    const st = await stat(path, { bigint: true }).catch(() => null)
    if (st !== null && st.dev === out.dev && st.ino === out.ino) fail('ERR_EIF_INPUT', `--output ${output} is the ${what} ${path}: the build would destroy it`)
  }
}

function archFlag(arch: string): 'x86_64' | 'aarch64' {
  if (arch === 'amd64') return 'x86_64'
  if (arch === 'arm64') return 'aarch64'
  return fail('ERR_EIF_IMAGE', `image architecture ${JSON.stringify(arch)} is neither amd64 nor arm64`)
}

/** Builds an EIF; returns its measurements. */
export async function buildEif(o: BuildOptions): Promise<BuildResult> {
  let image: LoadedImage | null = null
  try {
    let info: ImageInfo | null = null
    let arch: 'x86_64' | 'aarch64' = o.arch ?? (process.arch === 'arm64' ? 'aarch64' : 'x86_64')
    if (o.rootfs.kind === 'docker-archive') image = await loadDockerArchive(o.rootfs.path, { architecture: o.arch === 'aarch64' ? 'arm64' : o.arch === 'x86_64' ? 'amd64' : undefined })
    if (o.rootfs.kind === 'oci-layout') image = await loadOciLayout(o.rootfs.path, { architecture: o.arch === 'aarch64' ? 'arm64' : o.arch === 'x86_64' ? 'amd64' : undefined })
    if (image) {
      info = image.info
      arch = archFlag(info.architecture)
      // --arch picks a platform from an index; an image of another one is not silently built
      if (o.arch !== undefined && o.arch !== arch) fail('ERR_EIF_IMAGE', `the image is ${info.architecture} (${arch}), not the ${o.arch} that --arch asks for`)
    }
    const blob = (name: string): string | undefined => (o.blobs === undefined ? undefined : join(o.blobs, name))
    const kernelPath = o.kernel ?? blob(arch === 'aarch64' ? 'Image' : 'bzImage')
    const cmdlinePath = o.cmdline ?? blob('cmdline')
    const initPath = o.init ?? blob('init')
    const nsmPath = o.nsmKo ?? blob('nsm.ko')
    if (!kernelPath || !cmdlinePath || !initPath || !nsmPath) fail('ERR_EIF_INPUT', 'kernel, cmdline, init and nsm.ko are needed: give --blobs or each file')
    if (o.rootfs.kind === 'directory' || o.rootfs.kind === 'oci-layout') {
      // The walk would otherwise meet the half-written EIF (or its own output directory); in an
      // OCI layout the output could be a blob the build reads.
      const rel = relative(resolve(o.rootfs.path), resolve(o.output))
      if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) fail('ERR_EIF_INPUT', `--output must not be inside the ${o.rootfs.kind === 'directory' ? 'rootfs directory' : 'OCI layout'}`)
    }
    await outputIsNotAnInput(o.output, [
      ['kernel', kernelPath], ['cmdline', cmdlinePath], ['init', initPath], ['nsm.ko', nsmPath],
      ['signing certificate', o.signingCertificate], ['private key', o.privateKey],
      ['docker archive', o.rootfs.kind === 'docker-archive' ? o.rootfs.path : undefined],
    ])
    const kernel = await regularFile(kernelPath, 'kernel')
    const init = await regularFile(initPath, 'init')
    const nsmKo = await regularFile(nsmPath, 'nsm.ko')
    const cmdline = trimCmdline(await readRegularFile(cmdlinePath, 'cmdline', 64 * 1024))

    const cmd = o.cmd ?? info?.cmd ?? []
    const env = o.env ?? info?.env ?? []
    if (cmd.length === 0) fail('ERR_EIF_INPUT', 'no command: the image has an empty Cmd (which nitro-cli uses, ignoring Entrypoint) or neither Cmd nor Entrypoint, and --cmd was not given')

    let signing
    if ((o.signingCertificate === undefined) !== (o.privateKey === undefined)) fail('ERR_EIF_INPUT', 'signing needs both a certificate and a private key')
    if (o.signingCertificate !== undefined && o.privateKey !== undefined) {
      const certificate = await readRegularFile(o.signingCertificate, 'signing certificate', MAX_PEM)
      signing = loadSigningMaterial(certificate, await readRegularFile(o.privateKey, 'private key', MAX_PEM))
    }

    const imageName = o.name ?? (info?.repoTag ? info.repoTag.split(':')[0] : basename(o.rootfs.path.replace(/\/+$/, '')) || 'rootfs')
    const imageVersion = o.version ?? (info?.id ? info.id.replace(/^sha256:/, '') : '1.0')
    const k = await kernelInfo(kernelPath)
    const tool = o.buildTool ?? { name: 'nitro-recipient', version: '0.1.0' }
    const metadata = encodeMetadata({
      imageName,
      imageVersion,
      buildTime: buildTime(o.sourceDateEpoch ?? process.env.SOURCE_DATE_EPOCH),
      buildTool: tool.name,
      buildToolVersion: tool.version,
      operatingSystem: k?.os ?? 'Linux',
      kernelVersion: k?.version ?? 'unknown',
      dockerInfo: info ? sortKeys(info.config) : null,
      customMetadata: null,
    })
    const rootfs: Iterable<RootfsEntry> = image ? image.tree.entries() : directoryRootfs(o.rootfs.path)
    const res = await writeEif(o.output, {
      kernel,
      cmdline,
      metadata,
      arch,
      ...(signing ? { signing } : {}),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ramdisks: [
        (out) => writeBootstrapRamdisk(out, init, nsmKo),
        (out) => writeCustomerRamdisk(out, rootfs, { cmd, env, hardlinks: o.hardlinks ?? 'symlink' }),
      ],
    })
    return { measurements: res.measurements, size: res.size, imageName, imageVersion }
  } finally {
    await image?.close()
  }
}
