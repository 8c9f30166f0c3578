/**
 * kms-local: a KMS emulator with real attested-`Recipient` support (awsJson1_1 + SigV4, SQLite
 * storage, KMS's error types and envelope byte layout).
 *
 * @example
 * ```ts
 * const kms = await startKmsLocal({ dataDir: ':memory:', trustRoots: [sim.rootCertificatePem] })
 * const client = new KMSClient({ region: kms.region, endpoint: kms.endpoint, credentials: kms.credentials[0] })
 * ...
 * await kms.close()
 * ```
 * @module
 */
import type { Logger } from '../common/log.js'
import { serve, type KmsServer } from './server.js'
import { DEV_CREDENTIALS, KmsService } from './service.js'
import type { Credential } from './sigv4.js'
import { Store } from './store.js'

export { KmsService, DEV_CREDENTIALS, CONTENT_TYPE, type KmsServiceOptions } from './service.js'
export { serve, MAX_BODY_BYTES, type KmsServer } from './server.js'
export { Store, type KeyRecord, type AliasRecord } from './store.js'
export { KmsError, KmsLocalError, KMS_EXCEPTIONS, type KmsExceptionName } from './errors.js'
export { buildRecipientEnvelope, recipientKeyIdentifier } from './envelope.js'
export { verifySigV4, type Credential, type Caller } from './sigv4.js'
export { parsePolicy, evaluatePolicy, defaultPolicy, attestationContext } from './policy.js'
export { parseStrictJson, JsonSyntaxError } from './json.js'
export { encodeEncryptionContext } from './ciphertext.js'
export { OPERATIONS } from './operations/index.js'

export interface StartOptions {
  /** Listen address. Default `tcp://127.0.0.1:0` (an ephemeral port). */
  listen?: string
  /** Data directory, or `:memory:` (default). */
  dataDir?: string
  region?: string
  credentials?: readonly Credential[]
  /** Trust anchors for Recipient documents (PEM/DER). Default: AWS Nitro Root-G1 only. */
  trustRoots?: readonly (string | Uint8Array)[]
  verifyAtDocumentTime?: boolean
  maxAgeMs?: number
  logger?: Logger
  now?: () => Date
}

/** A running kms-local. */
export interface KmsLocal {
  readonly service: KmsService
  readonly server: KmsServer
  readonly endpoint: string
  readonly region: string
  /** The accepted credentials, in the AWS SDK's shape. */
  readonly credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }[]
  close(): Promise<void>
}

/** Opens the store, starts the service and the listener. */
export async function startKmsLocal(opts: StartOptions = {}): Promise<KmsLocal> {
  const dataDir = opts.dataDir ?? ':memory:'
  const store = dataDir === ':memory:' ? Store.memory() : Store.open(dataDir)
  try {
    const creds = opts.credentials ?? DEV_CREDENTIALS
    const service = new KmsService({
      store,
      ...(opts.region !== undefined ? { region: opts.region } : {}),
      credentials: creds,
      recipient: {
        ...(opts.trustRoots !== undefined ? { trustAnchors: opts.trustRoots } : {}),
        verifyAtDocumentTime: opts.verifyAtDocumentTime === true,
        ...(opts.maxAgeMs !== undefined ? { maxAgeMs: opts.maxAgeMs } : {}),
      },
      ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
      ...(opts.now !== undefined ? { now: opts.now } : {}),
    })
    const server = await serve(service, opts.listen ?? 'tcp://127.0.0.1:0')
    return {
      service,
      server,
      endpoint: server.endpoint,
      region: service.region,
      credentials: creds.map((c) => ({
        accessKeyId: c.accessKeyId,
        secretAccessKey: c.secretAccessKey,
        ...(c.sessionToken !== undefined ? { sessionToken: c.sessionToken } : {}),
      })),
      async close() {
        await server.close()
        store.close()
      },
    }
  } catch (e) {
    store.close()
    throw e
  }
}
