// Shared by the kms-local suites: a server on an ephemeral port, an SDK client, error capture,
// and openssl as the independent CMS implementation.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KeyObject } from 'node:crypto'
import { KMSClient } from '@aws-sdk/client-kms'
import { startKmsLocal, type KmsLocal, type StartOptions } from '../../kms-local/index.js'

export async function start(opts: StartOptions = {}): Promise<KmsLocal> {
  return startKmsLocal(opts)
}

export function client(k: KmsLocal, which = 0): KMSClient {
  return new KMSClient({ region: k.region, endpoint: k.endpoint, credentials: k.credentials[which], maxAttempts: 1 })
}

/** The rejection of `p` (fails the test when `p` resolves). */
export async function failure(p: Promise<unknown>): Promise<{ name: string; message: string; $fault?: string; $metadata: { httpStatusCode?: number } }> {
  try {
    await p
  } catch (e) {
    return e as { name: string; message: string; $fault?: string; $metadata: { httpStatusCode?: number } }
  }
  throw new Error('expected the call to fail')
}

/** `openssl cms -decrypt`, with the private key in a 0600 temp file deleted right after. */
export function opensslDecrypt(ber: Uint8Array, privateKey: KeyObject): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'kms-local-openssl-'))
  const keyPath = join(dir, 'key.pem')
  const inPath = join(dir, 'in.ber')
  try {
    writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
    writeFileSync(inPath, ber)
    return execFileSync('openssl', ['cms', '-decrypt', '-inform', 'DER', '-in', inPath, '-inkey', keyPath, '-binary'])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A raw signed-or-not POST, for what the SDK will not send. */
export async function rawPost(endpoint: string, headers: Record<string, string>, body: string | Buffer): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const r = await fetch(`${endpoint}/`, { method: 'POST', headers, body })
  const text = await r.text()
  return { status: r.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: r.headers }
}

import { createHash, createHmac } from 'node:crypto'
import { SignatureV4 } from '@smithy/signature-v4'

function bytes(d: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof d === 'string') return Buffer.from(d, 'utf8')
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength)
  return Buffer.from(d)
}

/** node:crypto behind the Checksum interface the smithy signer wants. */
class NodeSha256 {
  readonly #h: ReturnType<typeof createHash> | ReturnType<typeof createHmac>
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret))
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#h.update(bytes(data))
  }
  async digest(): Promise<Uint8Array> {
    return this.#h.digest()
  }
  reset(): void {}
}

export interface RawOptions {
  credentials?: { accessKeyId: string; secretAccessKey: string }
  target?: string
  contentType?: string
  /** Change the request after signing (tamper tests). */
  mutate?: (r: { headers: Record<string, string>; body: string | Buffer }) => void
  signingDate?: Date
  /** Extra headers, signed with the rest. */
  headers?: Record<string, string>
}

/** POSTs `body` signed by the AWS SDK's own SigV4 signer (an implementation independent of kms-local's verifier). */
export async function signedPost(k: KmsLocal, body: string | Buffer, o: RawOptions = {}): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const url = new URL(k.endpoint)
  const signer = new SignatureV4({ service: 'kms', region: k.region, credentials: o.credentials ?? k.credentials[0], sha256: NodeSha256 })
  const headers: Record<string, string> = {
    host: url.host,
    'content-type': o.contentType ?? 'application/x-amz-json-1.1',
    'x-amz-target': `TrentService.${o.target ?? 'ListKeys'}`,
    ...o.headers,
  }
  const signed = await signer.sign(
    { method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', headers, body },
    o.signingDate ? { signingDate: o.signingDate } : {},
  )
  const r = { headers: { ...(signed.headers as Record<string, string>) }, body }
  o.mutate?.(r)
  delete r.headers.host
  return rawPost(k.endpoint, r.headers, r.body)
}
