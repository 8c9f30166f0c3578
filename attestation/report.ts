/**
 * How a verified document is shown: the CLI's --json shape and the human summary (also used by
 * the demo).
 * @module
 */
import type { AttestationPayload } from './payload.js'
import type { AttestationResult } from './verify.js'

const hex = (b: Uint8Array | null): string | null => (b === null ? null : Buffer.from(b).toString('hex'))

/** The --json shape (snake_case field names as in the document). */
export function toJson(r: AttestationResult): Record<string, unknown> {
  return {
    ok: true,
    module_id: r.moduleId,
    kind: r.kind,
    timestamp: r.timestamp.toISOString(),
    timestamp_ms: r.timestamp.getTime(),
    digest: r.digest,
    debug: r.debug,
    pcrs: Object.fromEntries([...r.pcrs].map(([i, v]) => [String(i), hex(v)])),
    public_key: r.publicKeyBytes === null ? null : Buffer.from(r.publicKeyBytes).toString('base64'),
    public_key_type: r.publicKey?.asymmetricKeyType ?? null,
    user_data: hex(r.userData),
    nonce: hex(r.nonce),
    chain_sha256: r.chain.map((c) => c.sha256),
  }
}

/** The human summary. */
export function summary(r: AttestationResult): string {
  const lines = [
    'attestation document: VERIFIED',
    `  kind        ${r.kind}${r.debug ? ' (DEBUG MODE: PCRs are zero, not a measured enclave)' : ''}`,
    `  module_id   ${r.moduleId}`,
    `  timestamp   ${r.timestamp.toISOString()}`,
    ...[...r.pcrs].filter(([i, v]) => (r.kind === 'enclave' && [0, 1, 2, 3, 4, 8].includes(i)) || v.some((x) => x !== 0)).map(([i, v]) => `  ${`PCR${i}`.padEnd(12)}${hex(v)}`),
    `  public_key  ${r.publicKeyBytes === null ? 'none' : `${r.publicKeyBytes.length} bytes${r.publicKey ? ` (${r.publicKey.asymmetricKeyType} SubjectPublicKeyInfo)` : ' (not a SubjectPublicKeyInfo)'}`}`,
    `  user_data   ${r.userData === null ? 'none' : `${r.userData.length} bytes`}`,
    `  nonce       ${r.nonce === null ? 'none' : hex(r.nonce)}`,
    `  chain       ${r.chain.length} certificates, root SHA-256 ${r.chain[0].sha256}`,
    `              leaf valid ${r.chain[r.chain.length - 1].notBefore.toISOString()} .. ${r.chain[r.chain.length - 1].notAfter.toISOString()}`,
    '',
  ]
  return lines.join('\n')
}

/** The `decode` JSON shape: the payload fields, marked unverified. */
export function decodedJson(d: AttestationPayload & { tagged: boolean }): Record<string, unknown> {
  const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')
  return {
    verified: false,
    module_id: d.moduleId,
    kind: d.kind,
    timestamp: new Date(d.timestamp).toISOString(),
    timestamp_ms: d.timestamp,
    digest: d.digest,
    pcrs: Object.fromEntries([...d.pcrs].map(([i, v]) => [String(i), hex(v)])),
    certificate: b64(d.certificate),
    cabundle: d.cabundle.map(b64),
    public_key: d.publicKey === null ? null : b64(d.publicKey),
    user_data: hex(d.userData),
    nonce: hex(d.nonce),
    tagged: d.tagged,
  }
}
