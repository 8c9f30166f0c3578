/**
 * `nitro-recipient attestation verify <file|-> [options]`: thin CLI over verifyAttestation.
 * Exit 0 verified (summary printed), 1 rejected (code and message printed), 2 usage error
 * (including an unusable --root), 3 internal error.
 * @module
 */
import { EXIT_OK, UsageError, commandMain, parse, parseHex, readInput, type Io, type Main } from '../common/cli.js'
import { MAX_DOCUMENT_BYTES } from './cose-sign1.js'
import { AttestationTooLargeError } from './errors.js'
import { decodedJson, summary, toJson } from './report.js'
import { anchorSet, decodeAttestationDocument, verifyAttestation, type VerifyOptions } from './verify.js'

const COMMAND = 'nitro-recipient attestation'

export const HELP = `Usage: ${COMMAND} verify <file|-> [options]
       ${COMMAND} decode <file|->


Verify an AWS Nitro attestation document (NSM enclave or NitroTPM COSE_Sign1): strict CBOR and
COSE decoding, the certificate chain to a pinned root, the ES384 signature, then your policy.

Options:
  --at <ISO-8601>|doc   verification time (default: now); 'doc' = the document's own timestamp,
                        for archived documents (their certificates live about 3 hours)
  --root <pem-file>     trust this root instead of the embedded AWS Nitro Root-G1 (repeatable;
                        a file path, or the PEM text itself as --root='-----BEGIN ...')
  --pcr <n>=<hex>       require PCR n to equal <hex> (repeatable; enclave and NitroTPM PCRs)
  --nonce <hex>         require this nonce
  --user-data <hex>     require this user_data
  --max-age <ms>        reject documents older than <ms> before the verification time
  --allow-debug         accept debug-mode enclave documents (PCR0..2 all zero)
  --json                print the result as JSON (module_id, kind, timestamp, digest, pcrs,
                        public_key as base64, user_data and nonce as hex)
  -h, --help            show this help

decode prints the document's fields as JSON WITHOUT verifying anything (structure and schema only):
for inspection, never for trust decisions.

Exit codes: 0 verified, 1 rejected (error code printed, e.g. ERR_ATTESTATION_CERTIFICATE_EXPIRED),
2 usage error, 3 internal error.
`

/** The CLI entry point (see {@link HELP}). */
export const main: Main = commandMain({ name: COMMAND, help: HELP, jsonErrors: true, run })

async function run(command: string, rest: string[], io: Io): Promise<number> {
  if (command === 'decode') return decode(rest, io)
  if (command !== 'verify') throw new UsageError(`unknown command '${command}'`)
  const { values, positionals } = parse({
    args: rest,
    allowPositionals: true,
    options: {
      at: { type: 'string' },
      root: { type: 'string', multiple: true },
      pcr: { type: 'string', multiple: true },
      nonce: { type: 'string' },
      'user-data': { type: 'string' },
      'max-age': { type: 'string' },
      'allow-debug': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    io.stdout.write(HELP)
    return EXIT_OK
  }
  if (positionals.length !== 1) throw new UsageError('expected exactly one document (a file, or - for stdin)')

  const opts: VerifyOptions = { allowDebug: values['allow-debug'] === true }
  if (values.root !== undefined) opts.trustAnchors = await Promise.all(values.root.map((r) => readRoot(r, io)))
  if (values.pcr !== undefined) opts.expectedPcrs = parsePcrs(values.pcr)
  if (values.nonce !== undefined) opts.nonce = parseHex(values.nonce, '--nonce')
  if (values['user-data'] !== undefined) opts.userData = parseHex(values['user-data'], '--user-data')
  if (values['max-age'] !== undefined) {
    if (!/^\d{1,15}$/.test(values['max-age'])) throw new UsageError('--max-age: expected milliseconds')
    opts.maxAgeMs = Number(values['max-age'])
  }
  const at = values.at === undefined || values.at === 'doc' ? undefined : parseIsoTime(values.at)

  const doc = await readDocument(positionals[0], io)
  opts.at = values.at === 'doc' ? new Date(decodeAttestationDocument(doc).timestamp) : at
  const result = await verifyAttestation(doc, opts)
  io.stdout.write(values.json ? `${JSON.stringify(toJson(result))}\n` : summary(result))
  return EXIT_OK
}

/** `decode`: structure only, clearly labelled unverified. */
async function decode(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse({ args, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } })
  if (values.help) {
    io.stdout.write(HELP)
    return EXIT_OK
  }
  if (positionals.length !== 1) throw new UsageError('expected exactly one document (a file, or - for stdin)')
  const d = decodeAttestationDocument(await readDocument(positionals[0], io))
  io.stdout.write(`${JSON.stringify(decodedJson(d))}\n`)
  return EXIT_OK
}

/** ISO-8601 with a date, a time and an explicit zone (Z or ±hh:mm): never the local zone by accident. */
function parseIsoTime(s: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.exec(s)
  const d = new Date(s)
  // Date rolls an impossible day over (2025-02-30 is 2025-03-02): the calendar date must exist
  const real = m !== null && new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))).getUTCDate() === Number(m[3])
  if (!real || Number.isNaN(d.getTime())) throw new UsageError(`--at: expected 'doc' or an ISO-8601 time with a zone, e.g. 2025-04-04T18:39:07Z`)
  return d
}

function parsePcrs(specs: string[]): Record<number, Uint8Array> {
  const out: Record<number, Uint8Array> = {}
  for (const spec of specs) {
    const m = /^(\d{1,2})=([0-9a-fA-F]*)$/.exec(spec)
    if (m === null || Number(m[1]) > 31) throw new UsageError(`--pcr ${spec}: expected <0..31>=<hex>`)
    const index = Number(m[1])
    const v = parseHex(m[2], `--pcr ${index}`)
    if (![32, 48, 64].includes(v.length)) throw new UsageError(`--pcr ${index}: a PCR is 32, 48 or 64 bytes`)
    // by number: `--pcr 0=...` and `--pcr 00=...` name the same PCR, and the second must not win
    if (Object.hasOwn(out, index)) throw new UsageError(`--pcr ${index} given twice`)
    out[index] = v
  }
  return out
}

/** Plenty for a PEM file of a few roots (Root-G1 is 778 bytes); /dev/zero is not read to exhaustion. */
const MAX_ROOT_FILE_BYTES = 64 * 1024

/** A PEM file path, or the PEM text itself. */
async function readRoot(arg: string, io: Io): Promise<string> {
  const inline = arg.startsWith('-----BEGIN')
  const label = inline ? '--root <PEM text>' : `--root ${arg}`
  let text = arg
  if (arg === '-') throw new UsageError('--root -: a root is a PEM file or PEM text; stdin is for the document')
  if (!inline) {
    try {
      text = (await readInput(arg, io, MAX_ROOT_FILE_BYTES)).toString('utf8')
    } catch (e) {
      throw e instanceof UsageError ? new UsageError(`--root ${e.message}`) : e
    }
  }
  try {
    // the whole anchor check (PEM, then a strict DER, EC P-384, ES384 certificate) so that an
    // unusable root is a usage error here, not a TypeError from verifyAttestation (exit 3)
    anchorSet([text])
  } catch (e) {
    throw new UsageError(`${label}: ${(e as Error).message}`)
  }
  return text
}

/** Reads the document, refusing more than the KMS cap without buffering an unbounded input. */
function readDocument(path: string, io: Io): Promise<Uint8Array> {
  return readInput(path, io, MAX_DOCUMENT_BYTES, () => new AttestationTooLargeError(`document exceeds ${MAX_DOCUMENT_BYTES} bytes`))
}
