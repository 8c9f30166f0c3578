/**
 * The enclave's ephemeral recipient key: RSA-2048, the only key KMS accepts for
 * `KeyEncryptionAlgorithm: RSAES_OAEP_SHA_256`. It never leaves the process; its public half goes
 * into the attestation document so that KMS encrypts to it.
 * @module
 */
import { generateKeyPair, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'

const generate = promisify(generateKeyPair)

export interface RecipientKey {
  privateKey: KeyObject
  /** DER SubjectPublicKeyInfo, the form `public_key` takes in the attestation document. */
  publicKeyDer: Buffer
}

/** Makes a fresh RSA-2048 key pair (e = 65537) off the event loop. */
export async function generateRecipientKey(): Promise<RecipientKey> {
  const { privateKey, publicKey } = await generate('rsa', { modulusLength: 2048, publicExponent: 0x10001 })
  return { privateKey, publicKeyDer: publicKey.export({ type: 'spki', format: 'der' }) }
}
