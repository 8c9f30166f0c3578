/**
 * `nitro-recipient eif <build|describe|pcrs|policy>`: thin CLI over the library. JSON on stdout
 * uses nitro-cli's field names; progress goes to stderr on a TTY only.
 * @module
 */
import { EXIT_FAILED, EXIT_OK, UsageError, parse, reportError, topLevelHelp, type Io, type Main } from '../common/cli.js'
import { buildEif, type RootfsInput } from './build.js'
import type { Measurements } from './measure.js'
import { keyPolicyStatements, ROLE_PLACEHOLDER } from './policy.js'
import { createProgress } from './progress.js'
import { assertVerified, describeEif, type EifDescription } from './reader.js'

const HELP = `Usage: nitro-recipient eif <command> [options]

Commands:
  build     build an EIF; prints its measurements as nitro-cli build-enclave does
  describe  print describe-eif's JSON for an EIF, verifying its CRC and signature
  pcrs      print the measurements of an EIF (verifies CRC and signature)
  policy    print KMS key-policy statements pinning an EIF's measurements

build options:
  --blobs DIR                 nitro-cli blobs directory (bzImage|Image, cmdline, init, nsm.ko)
  --kernel FILE --cmdline FILE --init FILE --nsm-ko FILE   override single blobs
  --rootfs DIR | --docker-archive FILE | --oci-layout DIR  the application filesystem (exactly one)
  --cmd ARG (repeatable)      command (default: the image's Cmd, else Entrypoint)
  --env K=V (repeatable)      environment (default: the image's Env)
  --name N --version V        metadata ImageName / ImageVersion
  --arch x86_64|aarch64       target (default: host's); for an image, the platform to pick, which it must be
  --hardlinks symlink|preserve  hard links as linuxkit does (relative symlinks, default) or real links
  --signing-certificate PEM --private-key PEM   sign (EC P-256/384/521): adds PCR8
  --output FILE               where to write the EIF (required)
  SOURCE_DATE_EPOCH           fixes the metadata BuildTime: two builds are then byte-identical

policy options:
  --pcr LIST                  PCRs to pin, from 0,1,2,8 (default 0, as ImageSha384)
  --role ARN                  principal of both statements (default: a placeholder KMS rejects)
`

/** nitro-cli's measurements JSON: `{"Measurements": {"HashAlgorithm": "Sha384 { ... }", "PCR0": ...}}`. */
export function measurementsJson(m: Measurements): { HashAlgorithm: string; PCR0: string; PCR1: string; PCR2: string; PCR8?: string } {
  const out: { HashAlgorithm: string; PCR0: string; PCR1: string; PCR2: string; PCR8?: string } = {
    HashAlgorithm: 'Sha384 { ... }',
    PCR0: m.pcr0,
    PCR1: m.pcr1,
    PCR2: m.pcr2,
  }
  if (m.pcr8 !== undefined) out.PCR8 = m.pcr8
  return out
}

/** describe-eif's JSON (fields in nitro-cli's order). */
export function describeJson(d: EifDescription): Record<string, unknown> {
  const md = d.metadata ?? {}
  const bm = (md.BuildMetadata ?? {}) as Record<string, unknown>
  const custom = md.CustomMetadata
  const out: Record<string, unknown> = { EifVersion: d.version, Measurements: measurementsJson(d.measurements), IsSigned: d.signature !== null }
  if (d.signature) out.SigningCertificate = d.signature.certificate
  out.CheckCRC = d.crcOk
  if (d.signature) out.SignatureCheck = d.signature.valid
  if (d.metadata !== null) {
    out.ImageName = md.ImageName ?? null
    out.ImageVersion = md.ImageVersion ?? null
    out.Metadata = {
      BuildTime: bm.BuildTime ?? null,
      BuildTool: bm.BuildTool ?? null,
      BuildToolVersion: bm.BuildToolVersion ?? null,
      OperatingSystem: bm.OperatingSystem ?? null,
      KernelVersion: bm.KernelVersion ?? null,
      DockerInfo: md.DockerInfo ?? null,
      ...(custom !== null && typeof custom === 'object' && !Array.isArray(custom) ? (custom as Record<string, unknown>) : {}),
    }
  }
  return out
}

function json(io: Io, v: unknown): void {
  io.stdout.write(`${JSON.stringify(v, null, 2)}\n`)
}

function oneFile(positionals: string[], cmd: string): string {
  if (positionals.length !== 1) throw new UsageError(`${cmd} takes exactly one EIF file`)
  return positionals[0]
}

async function readChecked(path: string, io: Io): Promise<EifDescription> {
  const p = createProgress(io.stderr, 'reading')
  try {
    return await describeEif(path, { onProgress: (done, total) => p.update(done, total) })
  } finally {
    p.end()
  }
}

async function build(argv: string[], io: Io): Promise<number> {
  const { values } = parse({
    args: argv,
    options: {
      blobs: { type: 'string' }, kernel: { type: 'string' }, cmdline: { type: 'string' }, init: { type: 'string' }, 'nsm-ko': { type: 'string' },
      rootfs: { type: 'string' }, 'docker-archive': { type: 'string' }, 'oci-layout': { type: 'string' },
      cmd: { type: 'string', multiple: true }, env: { type: 'string', multiple: true },
      name: { type: 'string' }, version: { type: 'string' }, arch: { type: 'string' }, hardlinks: { type: 'string' },
      'signing-certificate': { type: 'string' }, 'private-key': { type: 'string' }, output: { type: 'string' },
    },
  })
  const sources: RootfsInput[] = []
  if (values.rootfs !== undefined) sources.push({ kind: 'directory', path: values.rootfs })
  if (values['docker-archive'] !== undefined) sources.push({ kind: 'docker-archive', path: values['docker-archive'] })
  if (values['oci-layout'] !== undefined) sources.push({ kind: 'oci-layout', path: values['oci-layout'] })
  if (sources.length !== 1) throw new UsageError('give exactly one of --rootfs, --docker-archive, --oci-layout')
  if (values.output === undefined) throw new UsageError('--output is required')
  if (values.arch !== undefined && values.arch !== 'x86_64' && values.arch !== 'aarch64') throw new UsageError('--arch is x86_64 or aarch64')
  if (values.hardlinks !== undefined && values.hardlinks !== 'symlink' && values.hardlinks !== 'preserve') throw new UsageError('--hardlinks is symlink or preserve')
  if ((values['signing-certificate'] === undefined) !== (values['private-key'] === undefined)) throw new UsageError('--signing-certificate and --private-key go together')
  const p = createProgress(io.stderr, 'writing EIF')
  try {
    const res = await buildEif({
      ...(values.blobs !== undefined ? { blobs: values.blobs } : {}),
      ...(values.kernel !== undefined ? { kernel: values.kernel } : {}),
      ...(values.cmdline !== undefined ? { cmdline: values.cmdline } : {}),
      ...(values.init !== undefined ? { init: values.init } : {}),
      ...(values['nsm-ko'] !== undefined ? { nsmKo: values['nsm-ko'] } : {}),
      rootfs: sources[0],
      ...(values.cmd !== undefined ? { cmd: values.cmd } : {}),
      ...(values.env !== undefined ? { env: values.env } : {}),
      ...(values.name !== undefined ? { name: values.name } : {}),
      ...(values.version !== undefined ? { version: values.version } : {}),
      ...(values.arch !== undefined ? { arch: values.arch as 'x86_64' | 'aarch64' } : {}),
      ...(values.hardlinks !== undefined ? { hardlinks: values.hardlinks as 'symlink' | 'preserve' } : {}),
      ...(values['signing-certificate'] !== undefined ? { signingCertificate: values['signing-certificate'] } : {}),
      ...(values['private-key'] !== undefined ? { privateKey: values['private-key'] } : {}),
      output: values.output,
      onProgress: (n) => p.update(n),
    })
    p.end()
    json(io, { Measurements: measurementsJson(res.measurements) })
    return EXIT_OK
  } finally {
    p.end()
  }
}

async function describe(argv: string[], io: Io, onlyPcrs: boolean): Promise<number> {
  const { positionals } = parse({ args: argv, options: {}, allowPositionals: true })
  const d = await readChecked(oneFile(positionals, onlyPcrs ? 'pcrs' : 'describe'), io)
  if (onlyPcrs) {
    // Measurements of a file that fails its own checks are not worth printing.
    assertVerified(d)
    json(io, { Measurements: measurementsJson(d.measurements) })
    return EXIT_OK
  }
  json(io, describeJson(d))
  try {
    assertVerified(d)
  } catch (e) {
    return reportError(e, io, 'nitro-recipient eif describe')
  }
  return EXIT_OK
}

async function policy(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse({ args: argv, options: { pcr: { type: 'string' }, role: { type: 'string' } }, allowPositionals: true })
  const file = oneFile(positionals, 'policy')
  const pcrs = (values.pcr ?? '0').split(',').map((s) => {
    if (!/^(0|1|2|8)$/.test(s.trim())) throw new UsageError(`--pcr: ${JSON.stringify(s)} is not one of 0, 1, 2, 8`)
    return Number(s.trim())
  })
  const d = await readChecked(file, io)
  assertVerified(d)
  const stmts = keyPolicyStatements(d.measurements, { pcrs, ...(values.role !== undefined ? { role: values.role } : {}) })
  if (values.role === undefined) io.stderr.write(`note: no --role given; replace ${ROLE_PLACEHOLDER} with the parent instance's role ARN\n`)
  json(io, stmts)
  return EXIT_OK
}

export const main: Main = async (argv, io) => {
  const [cmd, ...rest] = argv
  const name = `nitro-recipient eif${cmd ? ` ${cmd}` : ''}`
  try {
    const helped = topLevelHelp(cmd, HELP, io)
    if (helped !== undefined) return helped
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(HELP)
      return EXIT_OK
    }
    switch (cmd) {
      case 'build':
        return await build(rest, io)
      case 'describe':
        return await describe(rest, io, false)
      case 'pcrs':
        return await describe(rest, io, true)
      case 'policy':
        return await policy(rest, io)
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}`)
    }
  } catch (e) {
    const code = reportError(e, io, name)
    return code === EXIT_OK ? EXIT_FAILED : code
  }
}
