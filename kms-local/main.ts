/**
 * `nitro-recipient kms-local serve`: runs the KMS emulator until SIGINT/SIGTERM and prints the
 * endpoint and the credentials to use.
 * @module
 */
import { readFileSync } from 'node:fs'
import { EXIT_OK, UsageError, parse, reportError, topLevelHelp, type Io, type Main } from '../common/cli.js'
import { createLogger, type Logger } from '../common/log.js'
import { parseAddress } from '../vsock-bridge/index.js'
import { KmsLocalError } from './errors.js'
import { startKmsLocal, type KmsLocal } from './index.js'
import { isJsonObject, parseStrictJson } from './json.js'
import { applySeed } from './seed.js'
import { DEV_CREDENTIALS } from './service.js'
import type { Credential } from './sigv4.js'

const COMMAND = 'nitro-recipient kms-local'

export const HELP = `Usage: ${COMMAND} serve [options]

A local AWS KMS (awsJson1_1, SigV4-verified) with real attested Recipient support: documents are
verified against the trust roots, key policies are evaluated on kms:RecipientAttestation:* keys,
and CiphertextForRecipient has KMS's exact CMS byte layout.

Options:
  --listen <address>         tcp://host:port, unix:/path or vsock://cid:port
                             (default tcp://127.0.0.1:4566; port 0 picks a free one). With the
                             development credentials TCP is loopback only
  --data-dir <dir>           keep keys in <dir> (SQLite, WAL; master.key 0600 created on first
                             start). Default: in memory, lost on exit
  --region <region>          default us-east-1
  --account <12 digits>      account of the first development credential (default 111122223333;
                             not with --credentials)
  --credentials <file>       JSON list of {accessKeyId, secretAccessKey, account, principalArn,
                             sessionToken?} to accept instead of the development keys
  --trust-root <pem-file>    trust anchor for Recipient documents (repeatable). Default: the AWS
                             Nitro Enclaves Root-G1 only. Add the NSM simulator's root.pem to
                             accept simulator documents
  --verify-at-document-time  verify Recipient documents at their own timestamp, not now (to replay
                             recorded documents; logged as a warning on every use)
  --max-age <ms>             reject Recipient documents older than <ms>
  --seed <file>              create keys and aliases from a YAML/JSON seed file (idempotent)
  --json                     print the endpoint and credentials as one JSON line
  -h, --help                 show this help

Logs are pino JSON on stderr (NITRO_RECIPIENT_LOG_LEVEL). Exit codes: 0 stopped by a signal,
1 failed to start (error code printed), 2 usage error.
`

/** The CLI entry point: serves until SIGINT or SIGTERM. */
export const main: Main = async (argv, io) => {
  const ac = new AbortController()
  const stop = (): void => ac.abort()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    return await runCommand(argv, io, ac.signal)
  } catch (e) {
    return reportError(e, io, COMMAND)
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}

/** `main` with an explicit stop signal (tests run it in-process). */
export async function runCommand(argv: string[], io: Io, signal: AbortSignal, logger?: Logger): Promise<number> {
  const [command, ...rest] = argv
  const helped = topLevelHelp(command, HELP, io)
  if (helped !== undefined) return helped
  if (command !== 'serve') throw new UsageError(`unknown command '${command}'`)
  const { values } = parse({
    args: rest,
    allowPositionals: false,
    options: {
      listen: { type: 'string' },
      'data-dir': { type: 'string' },
      region: { type: 'string' },
      account: { type: 'string' },
      credentials: { type: 'string' },
      'trust-root': { type: 'string', multiple: true },
      'verify-at-document-time': { type: 'boolean' },
      'max-age': { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    io.stdout.write(HELP)
    return EXIT_OK
  }
  if (values.account !== undefined && !/^\d{12}$/.test(values.account)) throw new UsageError('--account must be 12 digits')
  if (values.account !== undefined && values.credentials !== undefined) {
    throw new UsageError('--account sets the development credentials\' account; with --credentials the file gives each account')
  }
  if (values.region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(values.region)) throw new UsageError('--region is not a Region name')
  let maxAgeMs: number | undefined
  if (values['max-age'] !== undefined) {
    maxAgeMs = Number(values['max-age'])
    if (!Number.isSafeInteger(maxAgeMs) || maxAgeMs < 0) throw new UsageError('--max-age must be a non-negative integer (ms)')
  }
  const listenAddress = values.listen ?? 'tcp://127.0.0.1:4566'
  const parsed = parseAddress(listenAddress, { allowPortZero: true })
  // The development secrets are public: never accept them from the network.
  if (values.credentials === undefined && parsed.kind === 'tcp' && !['127.0.0.1', '::1', 'localhost'].includes(parsed.host)) {
    throw new UsageError(`refusing to listen on ${listenAddress} with the public development credentials; pass --credentials <file>`)
  }
  const credentials = values.credentials !== undefined ? readCredentials(values.credentials) : devCredentials(values.account)
  const trustRoots = (values['trust-root'] ?? []).map((f) => {
    try {
      return readFileSync(f, 'utf8')
    } catch (e) {
      throw new KmsLocalError('ERR_KMS_LOCAL_CONFIG', `cannot read trust root ${f}: ${(e as Error).message}`)
    }
  })
  const log = logger ?? createLogger('kms-local')
  const dataDir = values['data-dir'] ?? ':memory:'
  const kms: KmsLocal = await startKmsLocal({
    listen: listenAddress,
    dataDir,
    ...(values.region !== undefined ? { region: values.region } : {}),
    credentials,
    ...(trustRoots.length > 0 ? { trustRoots } : {}),
    verifyAtDocumentTime: values['verify-at-document-time'] === true,
    ...(maxAgeMs !== undefined ? { maxAgeMs } : {}),
    logger: log,
  })
  try {
    if (values.seed !== undefined) {
      const n = await applySeed(values.seed, kms.service.store, kms.region, credentials[0].account)
      log.info({ created: n }, 'seed applied')
    }
    if (values['verify-at-document-time']) log.warn('Recipient documents are verified at their own timestamp, not now')
    if (trustRoots.length > 0) log.warn({ roots: trustRoots.length }, 'Recipient documents are verified against configured trust roots instead of the AWS Nitro root')
    const dev = values.credentials === undefined
    if (values.json) {
      io.stdout.write(
        `${JSON.stringify({
          endpoint: kms.endpoint,
          region: kms.region,
          dataDir,
          credentials: credentials.map((c) => ({
            accessKeyId: c.accessKeyId,
            // Only the published development secrets are printed; configured ones never are.
            ...(dev ? { secretAccessKey: c.secretAccessKey } : {}),
            account: c.account,
            principalArn: c.principalArn,
          })),
        })}\n`,
      )
    } else {
      const lines = [
        `kms-local listening on ${kms.endpoint} (region ${kms.region}, ${dataDir === ':memory:' ? 'in memory: keys are lost on exit' : `data in ${dataDir}`})`,
        '',
        dev ? 'Development credentials (public; never use them for anything real):' : 'Accepted access keys (secrets not shown):',
        ...credentials.map(
          (c) => `  account ${c.account}: AWS_ACCESS_KEY_ID=${c.accessKeyId}${dev ? ` AWS_SECRET_ACCESS_KEY=${c.secretAccessKey}` : ''}`,
        ),
        '',
        `  export AWS_ENDPOINT_URL_KMS=${kms.endpoint} AWS_REGION=${kms.region}`,
        '',
      ]
      io.stdout.write(lines.join('\n'))
    }
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve()
      else signal.addEventListener('abort', () => resolve(), { once: true })
    })
    log.info('stopping')
    return EXIT_OK
  } finally {
    await kms.close()
  }
}

function devCredentials(account: string | undefined): Credential[] {
  if (account === undefined) return [...DEV_CREDENTIALS]
  const [first, ...others] = DEV_CREDENTIALS
  return [{ ...first, account, principalArn: `arn:aws:iam::${account}:user/kms-local-dev` }, ...others.filter((c) => c.account !== account)]
}

function readCredentials(path: string): Credential[] {
  let doc
  try {
    doc = parseStrictJson(readFileSync(path))
  } catch (e) {
    throw new KmsLocalError('ERR_KMS_LOCAL_CONFIG', `cannot read credentials ${path}: ${(e as Error).message}`)
  }
  if (!Array.isArray(doc) || doc.length === 0) throw new KmsLocalError('ERR_KMS_LOCAL_CONFIG', `${path}: expected a non-empty JSON list`)
  const seen = new Set<string>()
  return doc.map((c, i) => {
    const bad = (m: string): never => {
      throw new KmsLocalError('ERR_KMS_LOCAL_CONFIG', `${path}[${i}]: ${m}`)
    }
    if (!isJsonObject(c)) return bad('expected an object')
    for (const k of Object.keys(c)) if (!['accessKeyId', 'secretAccessKey', 'account', 'principalArn', 'sessionToken'].includes(k)) bad(`unknown field '${k}'`)
    if (typeof c.accessKeyId !== 'string' || !/^[A-Z0-9]{16,128}$/.test(c.accessKeyId)) bad('accessKeyId must be 16-128 upper-case letters/digits')
    // One access key, one secret and account: a later entry would silently replace an earlier one.
    if (seen.has(c.accessKeyId as string)) bad(`accessKeyId ${c.accessKeyId as string} is listed twice`)
    seen.add(c.accessKeyId as string)
    if (typeof c.secretAccessKey !== 'string' || c.secretAccessKey.length < 16) bad('secretAccessKey must be at least 16 characters')
    if (typeof c.account !== 'string' || !/^\d{12}$/.test(c.account)) bad('account must be 12 digits')
    const principalArn = c.principalArn ?? `arn:aws:iam::${c.account as string}:root`
    if (typeof principalArn !== 'string' || !principalArn.startsWith(`arn:aws:iam::${c.account as string}:`)) bad('principalArn must be an IAM ARN in that account')
    if (c.sessionToken !== undefined && typeof c.sessionToken !== 'string') bad('sessionToken must be a string')
    return {
      accessKeyId: c.accessKeyId as string,
      secretAccessKey: c.secretAccessKey as string,
      account: c.account as string,
      principalArn: principalArn as string,
      ...(typeof c.sessionToken === 'string' ? { sessionToken: c.sessionToken } : {}),
    }
  })
}
