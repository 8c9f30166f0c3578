/**
 * Public keys given on the command line (`nsm attest --public-key`, `enclave-app
 * derive-shared-secret --public-key`).
 * @module
 */
import { createPublicKey } from 'node:crypto'

const PEM_PUBLIC_KEY = /^-----BEGIN PUBLIC KEY-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END PUBLIC KEY-----\s*$/

/**
 * A DER SubjectPublicKeyInfo from DER or from one PEM `PUBLIC KEY` block, checked by node:crypto
 * (the bytes must be what it exports again); `undefined` for anything else. A private key's or a certificate's PEM
 * is refused: node:crypto would quietly derive the public key from it, and a private key file
 * given by mistake must fail, not work.
 */
export function parseSpki(bytes: Uint8Array): Buffer | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const pem = PEM_PUBLIC_KEY.exec(b.toString('latin1'))
  try {
    const der = pem === null ? b : Buffer.from(pem[1], 'base64')
    // export also throws for keys node:crypto imports but cannot use (the EC point at infinity);
    // comparing with the input refuses trailing bytes and non-canonical encodings OpenSSL takes
    const out = createPublicKey({ key: der, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' })
    return out.equals(der) ? out : undefined
  } catch {
    return undefined
  }
}
