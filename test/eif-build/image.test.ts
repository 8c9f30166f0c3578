import { execFileSync } from 'node:child_process'
import { symlinkSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { linkSync, lstatSync, mkdirSync, readFileSync, readlinkSync, existsSync, rmSync, utimesSync, writeFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { buildEif, type RootfsInput } from '../../eif-build/build.js'
import { EIF_ERROR_CODES, EifError } from '../../eif-build/errors.js'
import { imageInfoFromConfig, loadDockerArchive } from '../../eif-build/image.js'
import { verifyEif } from '../../eif-build/reader.js'
import { indexTar } from '../../eif-build/tar.js'
import { makeTar, rawSections, standInBlobs, tempDir, type TarMember } from './helpers.js'

const tmp = tempDir('img')
afterAll(() => tmp.cleanup())
const blobs = standInBlobs(tmp.dir)
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

function stampTree(dir: string, t: number): void {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n)
    if (lstatSync(p).isDirectory()) stampTree(p, t)
    utimesSync(p, t, t)
  }
}

/** Layer 1 and layer 2 (whiteout, opaque dir, overwrite, hard link), as GNU tar makes them. */
function makeLayers(): { l1: Buffer; l2: Buffer } {
  const a = join(tmp.dir, 'layer1')
  mkdirSync(join(a, 'etc'), { recursive: true })
  mkdirSync(join(a, 'usr/bin'), { recursive: true })
  mkdirSync(join(a, 'opq/sub'), { recursive: true })
  writeFileSync(join(a, 'etc/a'), 'a from layer 1')
  writeFileSync(join(a, 'etc/b'), 'b from layer 1')
  writeFileSync(join(a, 'usr/bin/tool'), 'old tool', { mode: 0o755 })
  writeFileSync(join(a, 'opq/x'), 'x')
  writeFileSync(join(a, 'opq/sub/deep'), 'deep')
  stampTree(a, 1_500_000_000)
  const b = join(tmp.dir, 'layer2')
  mkdirSync(join(b, 'etc'), { recursive: true })
  mkdirSync(join(b, 'usr/bin'), { recursive: true })
  mkdirSync(join(b, 'opq'), { recursive: true })
  writeFileSync(join(b, 'etc/.wh.a'), '')
  writeFileSync(join(b, 'opq/.wh..wh..opq'), '')
  writeFileSync(join(b, 'opq/z'), 'z from layer 2')
  writeFileSync(join(b, 'etc/c'), 'c from layer 2')
  linkSync(join(b, 'etc/c'), join(b, 'etc/c-link'))
  writeFileSync(join(b, 'usr/bin/tool'), 'new tool', { mode: 0o755 })
  stampTree(b, 1_600_000_000)
  const tar = (dir: string): Buffer => execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '--sort=name', '-C', dir, '-cf', '-', '.'])
  return { l1: tar(a), l2: tar(b) }
}
const { l1, l2 } = makeLayers()
/** An image config whose diff_ids name l1 and `layer2` (the uncompressed tar of the second layer). */
const configFor = (layer2: Buffer): Buffer => Buffer.from(JSON.stringify({
  architecture: 'amd64', os: 'linux',
  config: { Cmd: ['/usr/bin/tool', 'run'], Entrypoint: ['/ignored'], Env: ['PATH=/usr/bin', 'X=1'] },
  rootfs: { type: 'layers', diff_ids: [`sha256:${sha(l1)}`, `sha256:${sha(layer2)}`] },
}))
const config = configFor(l2)
const isGzip = (b: Buffer): boolean => b[0] === 0x1f && b[1] === 0x8b

/** A docker save archive of l1 and `layer2`; its config names their true diff_ids unless `cfg` is given. */
function dockerArchive(name: string, layer2: Buffer, extra: (dir: string) => void = () => {}, cfg?: Buffer): string {
  const d = join(tmp.dir, name)
  mkdirSync(join(d, 'l1'), { recursive: true })
  mkdirSync(join(d, 'l2'))
  writeFileSync(join(d, 'l1/layer.tar'), l1)
  writeFileSync(join(d, 'l2/layer.tar'), layer2)
  writeFileSync(join(d, 'config.json'), cfg ?? configFor(isGzip(layer2) ? gunzipSync(layer2) : layer2))
  writeFileSync(join(d, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: ['example.com/app:v1'], Layers: ['l1/layer.tar', 'l2/layer.tar'] }]))
  extra(d)
  const out = `${d}.tar`
  execFileSync('tar', ['-C', d, '-cf', out, '.'])
  return out
}

function ociLayout(name: string, layerType2 = 'application/vnd.oci.image.layer.v1.tar+gzip', mutate?: (blobs: string) => void, layer2 = l2): string {
  const d = join(tmp.dir, name)
  const bdir = join(d, 'blobs/sha256')
  mkdirSync(bdir, { recursive: true })
  const put = (b: Buffer): string => {
    writeFileSync(join(bdir, sha(b)), b)
    return `sha256:${sha(b)}`
  }
  const gz = gzipSync(layer2)
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length },
    layers: [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: put(l1), size: l1.length },
      { mediaType: layerType2, digest: put(gz), size: gz.length },
    ],
  }))
  const md = put(manifest)
  writeFileSync(join(d, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  writeFileSync(join(d, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length }] }))
  mutate?.(bdir)
  return d
}

async function build(rootfs: RootfsInput, name: string): Promise<{ eif: Buffer; pcrs: { pcr0: string; pcr1: string; pcr2: string } }> {
  const output = join(tmp.dir, `${name}.eif`)
  const r = await buildEif({ blobs, rootfs, output, sourceDateEpoch: '1700000000' })
  const d = await verifyEif(output)
  expect(d.measurements).toEqual(r.measurements)
  return { eif: readFileSync(output), pcrs: r.measurements }
}

function unpackCustomer(eif: Buffer, name: string): string {
  const ramdisks = rawSections(eif).filter((s) => s.type === 3)
  const dir = join(tmp.dir, name)
  mkdirSync(dir)
  execFileSync('cpio', ['-idm', '--quiet', '--no-absolute-filenames'], { cwd: dir, input: ramdisks[1].data })
  return dir
}

describe('docker save archive', () => {
  it('flattens layers with whiteouts, opaque dirs, overwrites and hard links; cmd from Cmd, env from Env', async () => {
    const { eif } = await build({ kind: 'docker-archive', path: dockerArchive('plain', l2) }, 'plain')
    const dir = unpackCustomer(eif, 'plain-out')
    const r = (p: string): string => readFileSync(join(dir, 'rootfs', p), 'utf8')
    expect(existsSync(join(dir, 'rootfs/etc/a'))).toBe(false) // whited out
    expect(r('etc/b')).toBe('b from layer 1')
    expect(readdirSync(join(dir, 'rootfs/opq')).sort()).toEqual(['z']) // opaque: x and sub/ gone
    expect(r('usr/bin/tool')).toBe('new tool')
    expect(lstatSync(join(dir, 'rootfs/usr/bin/tool')).mode & 0o7777).toBe(0o755)
    expect(r('etc/c')).toBe('c from layer 2')
    expect(readlinkSync(join(dir, 'rootfs/etc/c-link'))).toBe('c') // linuxkit: hard link -> relative symlink
    expect(lstatSync(join(dir, 'rootfs/etc/b')).mtimeMs).toBe(1_500_000_000_000)
    expect(lstatSync(join(dir, 'rootfs/etc/c')).mtimeMs).toBe(1_600_000_000_000)
    expect(readFileSync(join(dir, 'cmd'), 'utf8')).toBe('/usr/bin/tool\nrun\n')
    expect(readFileSync(join(dir, 'env'), 'utf8')).toBe('PATH=/usr/bin\nX=1\n')
    const md = JSON.parse(rawSections(eif).find((s) => s.type === 5)?.data.toString() ?? '{}')
    expect(md.ImageName).toBe('example.com/app')
    expect(md.ImageVersion).toBe(sha(config))
    expect(md.BuildMetadata.BuildTime).toBe('2023-11-14T22:13:20+00:00')
    expect(Object.keys(md.DockerInfo)).toEqual(['architecture', 'config', 'os', 'rootfs'])
  })

  it('gzip layers give the same ramdisks; an OCI layout of the same layers gives the same PCRs', async () => {
    const plain = await build({ kind: 'docker-archive', path: dockerArchive('plain2', l2) }, 'plain2')
    const gz = await build({ kind: 'docker-archive', path: dockerArchive('gz', gzipSync(l2)) }, 'gz')
    const oci = await build({ kind: 'oci-layout', path: ociLayout('oci') }, 'oci')
    expect(gz.pcrs).toEqual(plain.pcrs)
    expect(oci.pcrs).toEqual(plain.pcrs)
  })

  it('an explicit --arch that the image is not is an error, not a silent x86_64 build', async () => {
    const path = dockerArchive('arch', l2)
    await expect(buildEif({ blobs, rootfs: { kind: 'docker-archive', path }, arch: 'aarch64', output: join(tmp.dir, 'arch.eif') }))
      .rejects.toMatchObject({ code: 'ERR_EIF_IMAGE', message: 'the image is amd64 (x86_64), not the aarch64 that --arch asks for' })
    await expect(buildEif({ blobs, rootfs: { kind: 'oci-layout', path: ociLayout('arch-oci') }, arch: 'aarch64', output: join(tmp.dir, 'arch.eif') }))
      .rejects.toMatchObject({ code: 'ERR_EIF_IMAGE' })
    await buildEif({ blobs, rootfs: { kind: 'docker-archive', path }, arch: 'x86_64', output: join(tmp.dir, 'arch.eif') })
  })

  it('two builds are byte-identical', async () => {
    const path = dockerArchive('det', l2)
    const a = await build({ kind: 'docker-archive', path }, 'det-a')
    const b = await build({ kind: 'docker-archive', path }, 'det-b')
    expect(a.eif.equals(b.eif)).toBe(true)
  })
})

describe('cmd from the image config, as nitro-cli picks it', () => {
  it('Cmd when present (even empty), else Entrypoint; never both', async () => {
    const info = (config: object) => imageInfoFromConfig({ architecture: 'amd64', config }, null, null).cmd
    expect(info({ Cmd: ['/c'], Entrypoint: ['/e'] })).toEqual(['/c'])
    expect(info({ Cmd: null, Entrypoint: ['/e', 'x'] })).toEqual(['/e', 'x'])
    expect(info({ Entrypoint: ['/e'] })).toEqual(['/e'])
    // bollard gives Some(vec![]) for "Cmd": [], and nitro-cli writes an empty /cmd
    expect(info({ Cmd: [], Entrypoint: ['/e'] })).toEqual([])
    expect(info({})).toEqual([])
    // an empty command is not built silently: it takes --cmd
    const cfg = Buffer.from(JSON.stringify({ ...JSON.parse(config.toString()), config: { Cmd: [], Entrypoint: ['/usr/bin/tool'] } }))
    const path = dockerArchive('empty-cmd', l2, undefined, cfg)
    await expect(buildEif({ blobs, rootfs: { kind: 'docker-archive', path }, output: join(tmp.dir, 'empty-cmd.eif') })).rejects.toMatchObject({ code: 'ERR_EIF_INPUT' })
    await buildEif({ blobs, rootfs: { kind: 'docker-archive', path }, cmd: ['/usr/bin/tool'], output: join(tmp.dir, 'empty-cmd.eif') })
  })
})

describe('OCI image index', () => {
  it('picks the manifest for the requested architecture; several without one is ambiguous', async () => {
    const d = ociLayout('multi')
    const index = JSON.parse(readFileSync(join(d, 'index.json'), 'utf8'))
    const m = index.manifests[0]
    // a nested index listing the same manifest for amd64 and a missing one for arm64
    const nested = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [
      { ...m, platform: { os: 'linux', architecture: 'arm64' }, digest: `sha256:${'0'.repeat(64)}` },
      { ...m, platform: { os: 'linux', architecture: 'amd64' } },
    ] }))
    writeFileSync(join(d, 'blobs/sha256', sha(nested)), nested)
    writeFileSync(join(d, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${sha(nested)}`, size: nested.length }] }))
    const r = await buildEif({ blobs, rootfs: { kind: 'oci-layout', path: d }, arch: 'x86_64', output: join(tmp.dir, 'multi.eif') })
    expect(r.measurements.pcr2).toMatch(/^[0-9a-f]{96}$/)
    await expect(buildEif({ blobs, rootfs: { kind: 'oci-layout', path: d }, arch: 'aarch64', output: join(tmp.dir, 'multi-arm.eif') }))
      .rejects.toMatchObject({ code: 'ERR_EIF_IMAGE' }) // its blob is missing
    const amb = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ ...m, platform: { os: 'linux', architecture: 'amd64' } }, { ...m, platform: { os: 'linux', architecture: 'amd64' } }] }))
    writeFileSync(join(d, 'blobs/sha256', sha(amb)), amb)
    writeFileSync(join(d, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${sha(amb)}`, size: amb.length }] }))
    await expect(buildEif({ blobs, rootfs: { kind: 'oci-layout', path: d }, arch: 'x86_64', output: join(tmp.dir, 'amb.eif') }))
      .rejects.toMatchObject({ code: 'ERR_EIF_IMAGE' })
  })
})

describe('bad images: typed errors', () => {
  const withLayer = (name: string, members: TarMember[]) => ({ kind: 'docker-archive' as const, path: dockerArchive(name, makeTar(members)) })
  const code = async (rootfs: RootfsInput, name: string): Promise<string> => {
    try {
      await buildEif({ blobs, rootfs, output: join(tmp.dir, `${name}.eif`) })
      return 'ok'
    } catch (e) {
      expect(e).toBeInstanceOf(EifError)
      return (e as EifError).code
    }
  }
  it('.. paths, absolute paths', async () => {
    expect(await code(withLayer('dotdot', [{ name: '../evil', data: Buffer.from('x') }]), 'dotdot')).toBe('ERR_EIF_ROOTFS_PATH')
    expect(await code(withLayer('dotdot2', [{ name: 'a/../../evil', data: Buffer.from('x') }]), 'dotdot2')).toBe('ERR_EIF_ROOTFS_PATH')
    expect(await code(withLayer('abs', [{ name: '/etc/passwd', data: Buffer.from('x') }]), 'abs')).toBe('ERR_EIF_ROOTFS_PATH')
  })
  it('symlinks escaping the tree, hard links to nothing', async () => {
    expect(await code(withLayer('esc', [{ name: 'a/l', type: '2', linkname: '../../x' }]), 'esc')).toBe('ERR_EIF_ROOTFS_SYMLINK')
    expect(await code(withLayer('esc2', [{ name: 'l', type: '2', linkname: '/../../etc/shadow' }]), 'esc2')).toBe('ERR_EIF_ROOTFS_SYMLINK')
    expect(await code(withLayer('hl', [{ name: 'l', type: '1', linkname: 'missing' }]), 'hl')).toBe('ERR_EIF_ROOTFS_HARDLINK')
    expect(await code(withLayer('hl2', [{ name: 'l', type: '1', linkname: '../etc/passwd' }]), 'hl2')).toBe('ERR_EIF_ROOTFS_PATH')
  })
  it('device files', async () => {
    expect(await code(withLayer('dev', [{ name: 'dev/sda', type: '4' }]), 'dev')).toBe('ERR_EIF_ROOTFS_FILE_TYPE')
    expect(await code(withLayer('chr', [{ name: 'dev/null', type: '3' }]), 'chr')).toBe('ERR_EIF_ROOTFS_FILE_TYPE')
  })
  it('unsupported layer media types, digest mismatches, zstd blobs', async () => {
    expect(await code({ kind: 'oci-layout', path: ociLayout('zstd', 'application/vnd.oci.image.layer.v1.tar+zstd') }, 'zstd')).toBe('ERR_EIF_LAYER_MEDIA_TYPE')
    const tampered = ociLayout('tamper', undefined, (bdir) => {
      const f = join(bdir, sha(l1))
      const b = readFileSync(f)
      b[600] ^= 1
      writeFileSync(f, b)
    })
    expect(await code({ kind: 'oci-layout', path: tampered }, 'tamper')).toBe('ERR_EIF_DIGEST_MISMATCH')
    const z = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(100)])
    expect(await code({ kind: 'docker-archive', path: dockerArchive('zstd-docker', z) }, 'zstd-docker')).toBe('ERR_EIF_LAYER_MEDIA_TYPE')
  })
  it('malformed archives and manifests', async () => {
    const badSum = makeTar([{ name: 'f', data: Buffer.from('x') }])
    badSum[0] ^= 1
    expect(await code({ kind: 'docker-archive', path: dockerArchive('badsum', badSum) }, 'badsum')).toBe('ERR_EIF_TAR')
    expect(await code(withLayer('sparse', [{ name: 'f', type: 'S' }]), 'sparse')).toBe('ERR_EIF_TAR')
    expect(await code(withLayer('latin1', [{ name: '', rawName: Buffer.from('bad\xff', 'latin1'), data: Buffer.from('x') }]), 'latin1')).toBe('ERR_EIF_TAR')
    const two = dockerArchive('two', l2, (d) => writeFileSync(join(d, 'manifest.json'), JSON.stringify([{ Config: 'config.json', Layers: [] }, { Config: 'config.json', Layers: [] }])))
    expect(await code({ kind: 'docker-archive', path: two }, 'two')).toBe('ERR_EIF_IMAGE')
    const bom = dockerArchive('bom-manifest', l2, (d) => writeFileSync(join(d, 'manifest.json'), `\ufeff${readFileSync(join(d, 'manifest.json'), 'utf8')}`))
    expect(await code({ kind: 'docker-archive', path: bom }, 'bom-manifest')).toBe('ERR_EIF_IMAGE') // a BOM is not JSON
    const noLayer = dockerArchive('nolayer', l2, (d) => rmSync(join(d, 'l1'), { recursive: true }))
    expect(await code({ kind: 'docker-archive', path: noLayer }, 'nolayer')).toBe('ERR_EIF_IMAGE')
  })
  it('docker save: every layer must match the config diff_ids (docker load checks them), plain or gzip', async () => {
    // a layer swapped under an unchanged config: same image ID, different files
    const evil = makeTar([{ name: 'usr/bin/tool', data: Buffer.from('backdoor'), mode: 0o755 }])
    const swapped = async (name: string, layer: Buffer): Promise<void> => {
      await expect(loadDockerArchive(dockerArchive(name, layer, undefined, config)))
        .rejects.toMatchObject({ code: 'ERR_EIF_DIGEST_MISMATCH', message: `layer content is sha256:${sha(evil)}, the image config says sha256:${sha(l2)}` })
    }
    await swapped('swap-plain', evil)
    await swapped('swap-gzip', gzipSync(evil))
    const cfg = (diffIds: unknown, rootfsType = 'layers'): Buffer => Buffer.from(JSON.stringify({ ...JSON.parse(config.toString()), rootfs: { type: rootfsType, diff_ids: diffIds } }))
    for (const [name, c] of [
      ['ids-short', cfg([`sha256:${sha(l1)}`])],
      ['ids-none', cfg(undefined)],
      ['ids-type', cfg([`sha256:${sha(l1)}`, `sha256:${sha(l2)}`], 'other')],
      ['ids-algo', cfg([`sha256:${sha(l1)}`, `sha512:${sha(l2)}`])],
    ] as const) {
      await expect(loadDockerArchive(dockerArchive(name, l2, undefined, c))).rejects.toMatchObject({ code: 'ERR_EIF_IMAGE' })
    }
  })
  it('OCI: a gzip layer whose blob digest is right but whose tar is not the config diff_id', async () => {
    const evil = makeTar([{ name: 'etc/c', data: Buffer.from('not c') }])
    expect(await code({ kind: 'oci-layout', path: ociLayout('oci-diffid', undefined, undefined, evil) }, 'oci-diffid')).toBe('ERR_EIF_DIGEST_MISMATCH')
  })
  it('archives, index.json and blobs must be regular files: no FIFO hang, no endless /dev/zero, no EISDIR crash', async () => {
    const fifo = join(tmp.dir, 'image.fifo')
    execFileSync('mkfifo', [fifo])
    expect(await code({ kind: 'docker-archive', path: fifo }, 'fifo')).toBe('ERR_EIF_INPUT')
    expect(await code({ kind: 'docker-archive', path: tmp.dir }, 'dir-archive')).toBe('ERR_EIF_INPUT')
    const zero = ociLayout('oci-zero')
    rmSync(join(zero, 'index.json'))
    symlinkSync('/dev/zero', join(zero, 'index.json'))
    expect(await code({ kind: 'oci-layout', path: zero }, 'oci-zero')).toBe('ERR_EIF_IMAGE')
    const big = ociLayout('oci-big')
    writeFileSync(join(big, 'index.json'), Buffer.alloc((4 << 20) + 1, 0x20))
    expect(await code({ kind: 'oci-layout', path: big }, 'oci-big')).toBe('ERR_EIF_IMAGE')
    // a blob that is a directory whose size the descriptor claims
    const dirBlob = ociLayout('oci-dirblob')
    const index = JSON.parse(readFileSync(join(dirBlob, 'index.json'), 'utf8'))
    const fake = `${'a'.repeat(64)}`
    mkdirSync(join(dirBlob, 'blobs/sha256', fake))
    index.manifests[0] = { ...index.manifests[0], digest: `sha256:${fake}`, size: lstatSync(join(dirBlob, 'blobs/sha256', fake)).size }
    writeFileSync(join(dirBlob, 'index.json'), JSON.stringify(index))
    expect(await code({ kind: 'oci-layout', path: dirBlob }, 'oci-dirblob')).toBe('ERR_EIF_IMAGE')
  }, 10_000)

  it('the output may not be the docker archive, nor inside the OCI layout', async () => {
    const archive = dockerArchive('self', l2)
    const before = readFileSync(archive)
    await expect(buildEif({ blobs, rootfs: { kind: 'docker-archive', path: archive }, output: archive })).rejects.toMatchObject({ code: 'ERR_EIF_INPUT' })
    expect(readFileSync(archive).equals(before)).toBe(true)
    const oci = ociLayout('self-oci')
    const blob = join(oci, 'blobs/sha256', sha(l1))
    await expect(buildEif({ blobs, rootfs: { kind: 'oci-layout', path: oci }, output: blob })).rejects.toMatchObject({ code: 'ERR_EIF_INPUT', message: '--output must not be inside the OCI layout' })
    expect(sha(readFileSync(blob))).toBe(sha(l1))
  })

  it('temporary inflated layers are removed by close()', async () => {
    const mine = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('nitro-recipient-eif-'))
    const before = new Set(mine())
    const img = await loadDockerArchive(dockerArchive('cleanup', gzipSync(l2)))
    const created = mine().filter((n) => !before.has(n))
    expect(created.length).toBe(1)
    await img.close()
    expect(existsSync(join(tmpdir(), created[0]))).toBe(false)
  })
})

describe('tar reader', () => {
  const pax = (k: string, v: string): string => {
    const body = Buffer.byteLength(` ${k}=${v}\n`) // a PAX length counts bytes
    let n = body + 1
    while (String(n).length + body !== n) n++
    return `${n} ${k}=${v}\n`
  }
  const index = async (name: string, b: Buffer) => {
    const p = join(tmp.dir, name)
    writeFileSync(p, b)
    return indexTar(p)
  }
  it('names are kept byte for byte: a leading U+FEFF is part of the name, not a BOM to drop', async () => {
    const e = await index('bom.tar', makeTar([{ name: '\ufeffetc/passwd', data: Buffer.from('x') }, { name: 'x', type: 'x', data: Buffer.from(pax('path', '\ufeffetc/shadow')) }, { name: 'x', data: Buffer.from('y') }]))
    expect(e.map((x) => x.name)).toEqual(['\ufeffetc/passwd', '\ufeffetc/shadow'])
  })
  it("an old-style entry (type '\\0') named with a trailing / is a directory, as Go's archive/tar reads it", async () => {
    const e = await index('v7dir.tar', makeTar([{ name: 'etc/', type: '\0' }, { name: 'etc/passwd', type: '\0', data: Buffer.from('root') }]))
    expect(e.map((x) => [x.name, x.type])).toEqual([['etc/', 'dir'], ['etc/passwd', 'file']])
  })
  it('PAX GNU sparse files are refused (their data is a sparse map docker would expand)', async () => {
    const b = makeTar([{ name: 'x', type: 'x', data: Buffer.from(pax('GNU.sparse.major', '1') + pax('GNU.sparse.minor', '0') + pax('GNU.sparse.name', 'big') + pax('GNU.sparse.realsize', '1048576')) }, { name: 'GNUSparseFile.0/big', data: Buffer.from('1\n0\n3\nabc') }])
    await expect(index('sparse-pax.tar', b)).rejects.toMatchObject({ code: 'ERR_EIF_TAR', message: 'GNU sparse file (PAX GNU.sparse.major) is not supported' })
  })
  it('a single zero block followed by another entry is an error, as in Go (docker); padding after two is fine', async () => {
    const first = makeTar([{ name: 'a', data: Buffer.from('a') }])
    const hidden = Buffer.concat([first.subarray(0, first.length - 512), makeTar([{ name: 'hidden', data: Buffer.from('h') }])])
    await expect(index('hidden.tar', hidden)).rejects.toMatchObject({ code: 'ERR_EIF_TAR' })
    expect((await index('padded.tar', Buffer.concat([first, Buffer.alloc(8192)]))).map((x) => x.name)).toEqual(['a'])
    expect((await index('one-zero.tar', first.subarray(0, first.length - 512))).map((x) => x.name)).toEqual(['a'])
    // after the end-of-archive pair, bytes are record padding and not read
    expect((await index('after.tar', Buffer.concat([first, makeTar([{ name: 'z' }])]))).map((x) => x.name)).toEqual(['a'])
  })
  it('random mutations: entries or a typed error (property)', async () => {
    const good = makeTar([{ name: 'dir/', type: '5' }, { name: 'dir/f', data: Buffer.from('hello') }, { name: 'l', type: '2', linkname: 'dir/f' }])
    const p = join(tmp.dir, 'fuzz.tar')
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(good.length), async (flips, cut) => {
        const b = Buffer.from(good.subarray(0, cut))
        for (const [i, v] of flips) if (i < b.length) b[i] = v
        writeFileSync(p, b)
        try {
          await indexTar(p)
        } catch (e) {
          expect(e).toBeInstanceOf(EifError)
          expect(EIF_ERROR_CODES).toContain((e as EifError).code)
        }
      }),
      { numRuns: 200 },
    )
  })
})
