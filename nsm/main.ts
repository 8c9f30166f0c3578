/**
 * `nitro-recipient nsm ...`: thin CLI over the NSM client and the simulator (see {@link HELP}).
 * @module
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { EXIT_OK, UsageError, commandMain, parse, parseHex, readInput, topLevelHelp, type Io, type Main } from '../common/cli.js'
import { createLogger } from '../common/log.js'
import { parseSpki } from '../common/spki.js'
import type { Attester } from './attester.js'
import { NSM_ENV, openAttester } from './open.js'
import { pcrsFromEif } from './simulator/eif.js'
import { startSimulatorServer } from './simulator/serve.js'
import { NsmSimulator } from './simulator/simulator.js'
import { SETTABLE_PCRS, certFile, type SettablePcr } from './simulator/store.js'

const COMMAND = 'nitro-recipient nsm'

export const HELP = `Usage: ${COMMAND} <command> [options]

Talk to the Nitro Security Module, or run its development simulator.

Commands:
  describe [--nsm SPEC]
      DescribeNSM and every PCR, as JSON (module_id, version, max_pcrs, locked_pcrs, digest, pcrs).
  attest [--nsm SPEC] [--public-key FILE] [--nonce HEX] [--user-data HEX] [--out FILE]
      Request an attestation document (raw COSE_Sign1 bytes) on stdout or into FILE.
      --public-key takes a DER or PEM SubjectPublicKeyInfo; each field is at most 1024 bytes.
      Refuses to write binary to a terminal: redirect stdout or use --out.
  simulator init --dir DIR [--pcr0 HEX] [--pcr1 HEX] [--pcr2 HEX] [--pcr8 HEX] [--eif FILE]
                 [--debug] [--region NAME] [--json]
      Create a simulator in DIR (made 0700; an existing DIR that group or others can write is
      refused): a development CA chain shaped like AWS's, private keys 0600, and DIR/root.pem,
      the trust anchor for its documents. PCR0/1/2/8 are taken from the options, or from an
      EIF's measurements (--eif); --debug makes PCR0..15 all zero.
  simulator serve --dir DIR --listen ADDR
      Serve the simulator over the NSM protocol (u32 big-endian length-prefixed CBOR frames) on
      ADDR: unix:/path, tcp://127.0.0.1:PORT or vsock://any:PORT. Stops on SIGINT/SIGTERM.

NSM selection (--nsm SPEC, else $${NSM_ENV}, else /dev/nsm):
  /dev/nsm            the device (native addon; only inside a Nitro Enclave)
  unix:/path          an NSM server, e.g. '${COMMAND} simulator serve'; also tcp://, vsock://
  simulator:DIR       the simulator from DIR, in this process
A simulator is only used when named; it says so on stderr.

Example (no enclave needed):
  ${COMMAND} simulator init --dir ./sim
  ${COMMAND} simulator serve --dir ./sim --listen unix:/tmp/nsm.sock &
  ${COMMAND} attest --nsm unix:/tmp/nsm.sock --nonce 00112233 > doc.cbor
  nitro-recipient attestation verify doc.cbor --root ./sim/root.pem --json

Exit codes: 0 ok, 1 the operation failed (error code printed), 2 usage error.
`

const HEX_LIMIT = 2 * 1024

export const main: Main = commandMain({ name: COMMAND, help: HELP, run })

async function run(command: string, rest: string[], io: Io): Promise<number> {
  switch (command) {
    case 'describe':
      return describe(rest, io)
    case 'attest':
      return attest(rest, io)
    case 'simulator': {
      const [sub, ...more] = rest
      if (sub === 'init') return simulatorInit(more, io)
      if (sub === 'serve') return simulatorServe(more, io)
      const helped = topLevelHelp(sub, HELP, io)
      if (helped !== undefined) return helped
      throw new UsageError(`unknown simulator command '${sub}'`)
    }
    default:
      throw new UsageError(`unknown command '${command}'`)
  }
}

function helpRequested(args: string[], io: Io): boolean {
  if (!args.includes('--help') && !args.includes('-h')) return false
  io.stdout.write(HELP)
  return true
}

async function withAttester<T>(spec: string | undefined, fn: (a: Attester) => Promise<T>): Promise<T> {
  const a = await openAttester(spec, { logger: createLogger('nsm', { defaultLevel: 'warn' }) })
  try {
    return await fn(a)
  } finally {
    await a.close()
  }
}

async function describe(args: string[], io: Io): Promise<number> {
  if (helpRequested(args, io)) return EXIT_OK
  const { values } = parse({ args, options: { nsm: { type: 'string' } } })
  const out = await withAttester(values.nsm, async (a) => {
    const d = await a.describeNsm()
    const pcrs: Record<string, { locked: boolean; value: string }> = {}
    for (let i = 0; i < d.maxPcrs; i++) {
      const p = await a.describePcr(i)
      pcrs[String(i)] = { locked: p.locked, value: Buffer.from(p.data).toString('hex') }
    }
    return {
      nsm: a.description,
      module_id: d.moduleId,
      version: `${d.versionMajor}.${d.versionMinor}.${d.versionPatch}`,
      max_pcrs: d.maxPcrs,
      locked_pcrs: d.lockedPcrs,
      digest: d.digest,
      pcrs,
    }
  })
  io.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
  return EXIT_OK
}

/** A DER SubjectPublicKeyInfo from a DER file or a PEM `PUBLIC KEY` block (common/spki.ts). */
async function readPublicKey(path: string, io: Io): Promise<Buffer> {
  const spki = parseSpki(await readInput(path, io, 16 * 1024))
  if (spki === undefined) throw new UsageError(`${path}: not a public key (DER SubjectPublicKeyInfo or PEM "PUBLIC KEY")`)
  return spki
}

async function attest(args: string[], io: Io): Promise<number> {
  if (helpRequested(args, io)) return EXIT_OK
  const { values } = parse({
    args,
    options: {
      nsm: { type: 'string' },
      'public-key': { type: 'string' },
      nonce: { type: 'string' },
      'user-data': { type: 'string' },
      out: { type: 'string', short: 'o' },
    },
  })
  const hexArg = (v: string | undefined, what: string): Buffer | null => {
    if (v === undefined) return null
    if (v.length > HEX_LIMIT) throw new UsageError(`${what}: longer than ${HEX_LIMIT / 2} bytes`)
    return parseHex(v, what)
  }
  const nonce = hexArg(values.nonce, '--nonce')
  const userData = hexArg(values['user-data'], '--user-data')
  // Check the destination before asking the NSM for anything.
  if (values.out === undefined && (io.stdout as { isTTY?: boolean }).isTTY === true) {
    throw new UsageError('refusing to write a binary document to a terminal: redirect stdout (> doc.cbor) or pass --out FILE')
  }
  const publicKey = values['public-key'] === undefined ? null : await readPublicKey(values['public-key'], io)
  const doc = await withAttester(values.nsm, (a) => a.attest({ publicKey, nonce, userData }))
  if (values.out !== undefined) await writeFile(values.out, doc)
  else io.stdout.write(Buffer.from(doc))
  return EXIT_OK
}

async function simulatorInit(args: string[], io: Io): Promise<number> {
  if (helpRequested(args, io)) return EXIT_OK
  const { values } = parse({
    args,
    options: {
      dir: { type: 'string' },
      pcr0: { type: 'string' },
      pcr1: { type: 'string' },
      pcr2: { type: 'string' },
      pcr8: { type: 'string' },
      eif: { type: 'string' },
      debug: { type: 'boolean' },
      region: { type: 'string' },
      json: { type: 'boolean' },
    },
  })
  if (values.dir === undefined) throw new UsageError('--dir is required')
  const pcrs: Partial<Record<SettablePcr, Uint8Array>> = values.eif !== undefined ? await pcrsFromEif(values.eif) : {}
  for (const n of SETTABLE_PCRS) {
    const v = values[`pcr${n}`]
    if (v === undefined) continue
    const b = parseHex(v, `--pcr${n}`)
    if (b.length !== 48) throw new UsageError(`--pcr${n}: expected 48 bytes (96 hex digits), got ${b.length}`)
    pcrs[n] = b
  }
  let region: string | undefined
  if (values.region !== undefined) {
    if (!/^[a-z0-9-]{1,32}$/.test(values.region)) throw new UsageError('--region: 1..32 of [a-z0-9-]')
    region = values.region
  }
  const sim = await NsmSimulator.init(values.dir, { pcrs, debug: values.debug === true, region, logger: createLogger('nsm-simulator', { level: 'error' }) })
  const root = join(values.dir, certFile('root'))
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ directory: values.dir, root, module_id: sim.moduleId, debug: sim.debug })}\n`)
  } else {
    io.stdout.write(
      `NSM simulator initialised in ${values.dir} (module_id ${sim.moduleId}${sim.debug ? ', debug mode' : ''})\n` +
        `Trust anchor for its documents: ${root}\n` +
        `  serve:  ${COMMAND} simulator serve --dir ${values.dir} --listen unix:/tmp/nsm.sock\n` +
        `  verify: nitro-recipient attestation verify doc.cbor --root ${root}\n`,
    )
  }
  return EXIT_OK
}

/** Resolves on the first SIGINT or SIGTERM. */
function terminationSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}

/**
 * `simulator serve`: serves until `stop` resolves (the CLI passes SIGINT/SIGTERM; tests pass
 * their own promise), then closes the listener.
 */
export async function simulatorServe(args: string[], io: Io, stop: () => Promise<void> = terminationSignal): Promise<number> {
  if (helpRequested(args, io)) return EXIT_OK
  const { values } = parse({ args, options: { dir: { type: 'string' }, listen: { type: 'string' } } })
  if (values.dir === undefined) throw new UsageError('--dir is required')
  if (values.listen === undefined) throw new UsageError('--listen is required (unix:/path, tcp://host:port or vsock://any:port)')
  const logger = createLogger('nsm-simulator')
  const server = await startSimulatorServer(values.dir, values.listen, { logger })
  io.stdout.write(`listening on ${server.address}\n`)
  await stop()
  await server.listener.close({ graceMs: 1000 })
  logger.info('NSM simulator server stopped')
  return EXIT_OK
}
