/**
 * `nitro-recipient enclave-app <command>`: the recipient flow from the command line, for use
 * inside an enclave (or against kms-local with the NSM simulator in development).
 *
 * Secrets never go to stdout or argv: plaintexts are written to `--out FILE` (created new,
 * mode 0600); stdout carries JSON metadata only.
 * @module
 */
import { KMSClient } from '@aws-sdk/client-kms'
import { open, unlink, type FileHandle } from 'node:fs/promises'
import * as https from 'node:https'
import { parse, processIo, readInput, UsageError, type Io, type Main } from '../common/cli.js'
import { createLogger } from '../common/log.js'
import { parseSpki } from '../common/spki.js'
import { openAttester } from '../nsm/index.js'
import { toAddress, type Address } from '../vsock-bridge/index.js'
import { RecipientClient } from './client.js'
import { TransportError } from './errors.js'
import { tunnelHttpAgent, tunnelHttpsAgent } from './transport.js'

const HELP = `Usage: nitro-recipient enclave-app <command> [options]

Commands (each attests a fresh ephemeral RSA-2048 key and sends KMS a Recipient):
  generate-data-key --key-id K [--key-spec AES_256|AES_128 | --bytes N] --out FILE
  decrypt           --ciphertext FILE [--key-id K] --out FILE
  generate-random   --bytes N --out FILE
  generate-data-key-pair --key-id K --key-pair-spec SPEC --out FILE
                    SPEC: RSA_2048|RSA_3072|RSA_4096|ECC_NIST_P256|ECC_NIST_P384|ECC_NIST_P521|
                    ECC_SECG_P256K1; the private key (DER PKCS#8) goes to FILE, the public key
                    and PrivateKeyCiphertextBlob to stdout
  derive-shared-secret --key-id K --public-key FILE --out FILE
                    ECDH of the KMS key with the peer's public key (DER SPKI or PEM)

Options:
  --context K=V     encryption context entry (repeatable; generate-data-key, decrypt)
  --endpoint URL    KMS endpoint, https:// (http:// only for kms-local in development; plain
                    http is refused unless given here). Default: the SDK's for --region
  --region R        AWS region (default: AWS_REGION)
  --via ADDR        reach the endpoint through a stream relay, e.g. vsock://3:8000 (host-proxy);
                    TLS still ends here, in the enclave. Default: connect directly.
  --ca FILE         PEM trust anchor(s) for the endpoint's TLS certificate, used instead of
                    Node's bundled roots (e.g. a development CA)
  --nsm SPEC        NSM to use: /dev/nsm (default, or NITRO_RECIPIENT_NSM), unix:/path, simulator:<dir>
  --out FILE        where the plaintext goes (created, mode 0600; never printed)
  --timeout-ms N    limit on each KMS request, connect included (default 30000)
  -h, --help

Credentials come from the AWS SDK's default chain (e.g. AWS_CONTAINER_CREDENTIALS_FULL_URI served
by host-proxy's credential endpoint). stdout is JSON: KeyId, CiphertextBlob (base64), Out (and
for generate-data-key-pair KeyPairSpec, PublicKey, PrivateKeyCiphertextBlob, base64).
`

const OPTIONS = {
  'key-id': { type: 'string' },
  'key-spec': { type: 'string' },
  bytes: { type: 'string' },
  ciphertext: { type: 'string' },
  context: { type: 'string', multiple: true },
  endpoint: { type: 'string' },
  region: { type: 'string' },
  via: { type: 'string' },
  ca: { type: 'string' },
  nsm: { type: 'string' },
  out: { type: 'string' },
  'key-pair-spec': { type: 'string' },
  'public-key': { type: 'string' },
  'timeout-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

const COMMANDS = ['generate-data-key', 'decrypt', 'generate-random', 'generate-data-key-pair', 'derive-shared-secret']
/** The DataKeyPairSpecs KMS offers (SM2 only in China Regions, and not by kms-local). */
const KEY_PAIR_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1', 'SM2'] as const
type KeyPairSpec = (typeof KEY_PAIR_SPECS)[number]
/** A DER SPKI of any curve KMS has, or its PEM: more than enough. */
const MAX_PUBLIC_KEY = 16 * 1024

function context(entries: string[] | undefined): Record<string, string> | undefined {
  if (entries === undefined) return undefined
  // No prototype: on a plain object `out['__proto__'] = v` is dropped silently, and the call would
  // go out with a context other than the one asked for.
  const out: Record<string, string> = Object.create(null) as Record<string, string>
  for (const e of entries) {
    const i = e.indexOf('=')
    if (i <= 0) throw new UsageError(`--context ${e}: expected KEY=VALUE`)
    const k = e.slice(0, i)
    if (Object.hasOwn(out, k)) throw new UsageError(`--context ${k}: given twice`)
    out[k] = e.slice(i + 1)
  }
  return out
}

function bytesOption(v: string | undefined, max: number): number | undefined {
  if (v === undefined) return undefined
  if (!/^[0-9]{1,7}$/.test(v) || Number(v) < 1 || Number(v) > max) throw new UsageError(`--bytes: expected an integer 1..${max}`)
  return Number(v)
}

/** KMS's CiphertextBlob limit (CiphertextType, 1..6144 bytes). */
const MAX_CIPHERTEXT = 6144
/** More than any CA bundle. */
const MAX_CA = 1024 * 1024

/**
 * Reads an option's file with common/cli's bounded reader (a device such as /dev/zero must not
 * fill the memory); every failure, an empty file included, is a usage error naming the option.
 */
async function readOption(path: string, option: string, max: number): Promise<Buffer> {
  let b: Buffer
  try {
    b = await readInput(path === '-' ? './-' : path, processIo, max)
  } catch (e) {
    throw e instanceof UsageError ? new UsageError(`--${option} ${e.message}`) : e
  }
  if (b.length === 0) throw new UsageError(`--${option} ${path}: empty`)
  return b
}

/**
 * Creates `--out` before anything is attested or sent: new only (O_EXCL, which also refuses a
 * symlink, dangling or not), mode 0600. A secret is never fetched for a file that cannot take it.
 */
async function createOut(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'wx', 0o600)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new UsageError(`--out ${path}: ${code === 'EEXIST' ? 'already exists (it is never overwritten)' : `cannot be created (${code ?? 'error'})`}`)
  }
}

function endpointOption(v: string | undefined): URL | undefined {
  if (v === undefined) return undefined
  let url: URL
  try {
    url = new URL(v)
  } catch {
    throw new UsageError(`--endpoint ${v}: not a URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`--endpoint ${v}: expected https:// (or http:// for kms-local)`)
  return url
}

function viaOption(v: string | undefined): Address | undefined {
  if (v === undefined) return undefined
  try {
    return toAddress(v)
  } catch (e) {
    throw new UsageError(`--via: ${(e as Error).message}`)
  }
}

/** The peer key of derive-shared-secret: DER SPKI or PEM `PUBLIC KEY` (checked again by KMS). */
function peerKey(bytes: Buffer): Buffer {
  const spki = parseSpki(bytes)
  if (spki === undefined) throw new UsageError('--public-key: expected a DER SubjectPublicKeyInfo or a PEM "PUBLIC KEY"')
  return spki
}

function timeoutOption(v: string | undefined): number {
  if (v === undefined) return 30_000
  if (!/^[0-9]{1,7}$/.test(v) || Number(v) < 1) throw new UsageError('--timeout-ms: expected an integer 1..9999999')
  return Number(v)
}

function required(v: string | undefined, name: string): string {
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`)
  return v
}

export const main: Main = async (argv: string[], io: Io) => {
  const { values, positionals } = parse({ args: argv, options: OPTIONS, allowPositionals: true })
  const [command, ...extra] = positionals
  if (values.help === true || command === undefined) {
    io.stdout.write(HELP)
    return values.help === true ? 0 : 2
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`)
  if (!COMMANDS.includes(command)) throw new UsageError(`unknown command '${command}'`)
  // Every argument is checked before anything is opened or sent.
  const out = required(values.out, 'out')
  const encryptionContext = context(values.context)
  let run: (client: RecipientClient) => Promise<{ plaintext: Buffer; meta: Record<string, string> }>
  if (command === 'generate-data-key') {
    const keyId = required(values['key-id'], 'key-id')
    const numberOfBytes = bytesOption(values.bytes, 1024)
    const keySpec = values['key-spec']
    if (keySpec !== undefined && keySpec !== 'AES_256' && keySpec !== 'AES_128') throw new UsageError('--key-spec: AES_256 or AES_128')
    if (keySpec !== undefined && numberOfBytes !== undefined) throw new UsageError('--key-spec and --bytes exclude each other')
    run = async (client) => {
      const dk = await client.generateDataKey({
        keyId,
        ...(keySpec !== undefined ? { keySpec } : {}),
        ...(numberOfBytes !== undefined ? { numberOfBytes } : {}),
        encryptionContext,
      })
      return { plaintext: dk.plaintext, meta: { KeyId: dk.keyId, CiphertextBlob: Buffer.from(dk.ciphertextBlob).toString('base64') } }
    }
  } else if (command === 'decrypt') {
    const blob = await readOption(required(values.ciphertext, 'ciphertext'), 'ciphertext', MAX_CIPHERTEXT)
    run = async (client) => {
      const r = await client.decrypt({ ciphertextBlob: blob, keyId: values['key-id'], encryptionContext })
      return { plaintext: r.plaintext, meta: { KeyId: r.keyId } }
    }
  } else if (command === 'generate-data-key-pair') {
    const keyId = required(values['key-id'], 'key-id')
    const spec = required(values['key-pair-spec'], 'key-pair-spec')
    if (!(KEY_PAIR_SPECS as readonly string[]).includes(spec)) throw new UsageError(`--key-pair-spec: one of ${KEY_PAIR_SPECS.join(', ')}`)
    run = async (client) => {
      const p = await client.generateDataKeyPair({ keyId, keyPairSpec: spec as KeyPairSpec, encryptionContext })
      const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')
      return {
        plaintext: p.privateKey,
        meta: { KeyId: p.keyId, KeyPairSpec: p.keyPairSpec, PublicKey: b64(p.publicKey), PrivateKeyCiphertextBlob: b64(p.privateKeyCiphertextBlob) },
      }
    }
  } else if (command === 'derive-shared-secret') {
    const keyId = required(values['key-id'], 'key-id')
    const publicKey = peerKey(await readOption(required(values['public-key'], 'public-key'), 'public-key', MAX_PUBLIC_KEY))
    run = async (client) => {
      const r = await client.deriveSharedSecret({ keyId, publicKey })
      return { plaintext: r.sharedSecret, meta: { KeyId: r.keyId } }
    }
  } else {
    const n = bytesOption(required(values.bytes, 'bytes'), 1024)!
    run = async (client) => ({ plaintext: await client.generateRandom(n), meta: {} })
  }
  const timeoutMs = timeoutOption(values['timeout-ms'])
  const ca = values.ca === undefined ? undefined : await readOption(values.ca, 'ca', MAX_CA)
  // The scheme comes from the parsed URL (HTTP:// is http too), never from a string prefix.
  const plainHttp = endpointOption(values.endpoint)?.protocol === 'http:'
  const via = viaOption(values.via)
  if (ca !== undefined && plainHttp) throw new UsageError('--ca: the endpoint is plain http, there is no certificate to check')
  // Direct https gets its own agent too, so that --ca applies and NODE_TLS_REJECT_UNAUTHORIZED=0
  // in the environment cannot turn verification off (tls.connect's default follows it).
  // A stalled relay or endpoint must not hold each of the SDK's attempts for minutes.
  const timeouts = { connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true }
  const requestHandler =
    via !== undefined
      ? plainHttp
        ? { ...timeouts, httpAgent: tunnelHttpAgent({ via }) }
        : { ...timeouts, httpsAgent: tunnelHttpsAgent({ via, ...(ca ? { ca } : {}) }) }
      : plainHttp
        ? timeouts
        : { ...timeouts, httpsAgent: new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: true, ...(ca ? { ca } : {}) }) }
  const fh = await createOut(out)
  let written = false
  try {
    const logger = createLogger('enclave-app')
    const attester = await openAttester(values.nsm, { logger })
    const kms = new KMSClient({
      ...(values.region !== undefined ? { region: values.region } : {}),
      ...(values.endpoint !== undefined ? { endpoint: values.endpoint } : {}),
      requestHandler,
    })
    // Checked on the request as built: the SDK also takes endpoints from AWS_ENDPOINT_URL(_KMS)
    // and ~/.aws/config, and an http request would skip TLS and --via's agent (a direct connection).
    kms.middlewareStack.add(
      (next) => async (args) => {
        const protocol = (args.request as { protocol?: unknown }).protocol
        if (protocol !== (plainHttp ? 'http:' : 'https:')) {
          throw new TransportError(`refusing a ${String(protocol)} request to KMS: plain http only with an explicit --endpoint http://...`)
        }
        return next(args)
      },
      { step: 'finalizeRequest', name: 'enclaveAppSchemeCheck' },
    )
    try {
      const client = await RecipientClient.create({ kms, attester, logger })
      const { plaintext, meta } = await run(client)
      try {
        await fh.writeFile(plaintext)
        written = true
      } finally {
        plaintext.fill(0)
      }
      io.stdout.write(`${JSON.stringify({ ...meta, Out: out })}\n`)
      return 0
    } finally {
      kms.destroy()
      await attester.close()
    }
  } finally {
    await fh.close()
    // Nothing (or only part of a secret) was written: leave no file behind.
    if (!written) await unlink(out).catch(() => undefined)
  }
}
