/**
 * `nitro-recipient <component> <command> ...`: the one CLI. It only dispatches; each component's
 * `main.ts` parses its own commands. Components load lazily so that, say, `eif describe` never
 * loads the SQLite or native vsock modules.
 * @module
 */
import { EXIT_USAGE, processIo, reportError, type Io, type Main } from '../common/cli.js'

interface Component {
  /** Folder under the package root holding `main.ts`. */
  folder: string
  summary: string
}

/** Component name on the command line -> where its main lives. */
export const COMPONENTS: Record<string, Component> = {
  attestation: { folder: 'attestation', summary: 'verify attestation documents (COSE, chain to the AWS root, PCR policy)' },
  nsm: { folder: 'nsm', summary: 'talk to the Nitro Security Module (/dev/nsm), or run its simulator' },
  vsock: { folder: 'vsock-bridge', summary: 'AF_VSOCK / unix / tcp streams: probe and pipe' },
  proxy: { folder: 'host-proxy', summary: 'the parent instance\'s allowlisted vsock -> TCP relay' },
  'kms-local': { folder: 'kms-local', summary: 'a local KMS emulator with attested Recipient support' },
  eif: { folder: 'eif-build', summary: 'build, describe and measure Enclave Image Files' },
  'enclave-app': { folder: 'enclave-app', summary: 'the in-enclave client: attest, call KMS with a Recipient, decrypt' },
  demo: { folder: 'cli/demo', summary: 'run the end-to-end demo on the embedded defaults' },
}
/** Alternative spellings accepted on the command line. */
const ALIASES: Record<string, string> = { 'host-proxy': 'proxy', 'vsock-bridge': 'vsock', 'eif-build': 'eif' }

export function usage(): string {
  const width = Math.max(...Object.keys(COMPONENTS).map((n) => n.length))
  const lines = Object.entries(COMPONENTS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  return [
    'Usage: nitro-recipient <component> <command> [options]',
    '',
    'Components:',
    ...lines,
    '',
    "Run 'nitro-recipient <component> --help' for a component's commands.",
    'Exit codes: 0 ok, 1 operation failed (error code printed), 2 usage error, 3 internal error.',
    '',
  ].join('\n')
}

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  const [first, ...rest] = argv
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    io.stdout.write(usage())
    return first === undefined ? EXIT_USAGE : 0
  }
  if (first === '--version') {
    io.stdout.write(`${await version()}\n`)
    return 0
  }
  const name = ALIASES[first] ?? first
  const component = Object.hasOwn(COMPONENTS, name) ? COMPONENTS[name] : undefined
  if (component === undefined) {
    io.stderr.write(`nitro-recipient: unknown component '${first}'\n${usage()}`)
    return EXIT_USAGE
  }
  let main: Main
  try {
    const mod = (await import(`../${component.folder}/main.js`)) as { main: Main }
    main = mod.main
  } catch (e) {
    return reportError(e, io, `nitro-recipient ${name}`)
  }
  try {
    return await main(rest, io)
  } catch (e) {
    return reportError(e, io, `nitro-recipient ${name}`)
  }
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises')
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}
