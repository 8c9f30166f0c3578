/**
 * The in-enclave side of the attested-recipient flow. Every call attests the enclave's ephemeral
 * RSA public key with the NSM, sends the document as `Recipient`, and opens the
 * `CiphertextForRecipient` KMS returns with the private key, inside the process.
 *
 * A response that carries the plaintext member anyway (`Plaintext`, `PrivateKeyPlaintext`,
 * `SharedSecret`) is refused: with a Recipient, KMS omits it, and an endpoint that does not has
 * ignored the Recipient and exposed the secret to everything on the path.
 * @module
 */
import {
  DecryptCommand,
  DeriveSharedSecretCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyPairCommand,
  GenerateRandomCommand,
  type DataKeyPairSpec,
  type DataKeySpec,
  type KMSClient,
} from '@aws-sdk/client-kms'
import { silentLogger, type Logger } from '../common/log.js'
import type { Attester } from '../nsm/attester.js'
import { decryptRecipientEnvelope } from './cms/index.js'
import { EnclaveAppError, KmsRequestError, KmsResponseError } from './errors.js'
import { generateRecipientKey, type RecipientKey } from './recipient-key.js'

export interface RecipientClientOptions {
  /** A configured KMS client (endpoint, region, credentials, request handler). */
  kms: KMSClient
  /** Where attestation documents come from (`openAttester()` from `nsm/`). */
  attester: Attester
  /** Use this key instead of generating one (tests). */
  key?: RecipientKey
  logger?: Logger
}

export type EncryptionContext = Record<string, string>

export interface DataKey {
  keyId: string
  /** The data key encrypted under the KMS key: store it beside your data. */
  ciphertextBlob: Uint8Array
  /** The data key. Zero it (`fill(0)`) when done. */
  plaintext: Buffer
}

export interface DataKeyPair {
  keyId: string
  keyPairSpec: string
  /** DER SubjectPublicKeyInfo. */
  publicKey: Uint8Array
  privateKeyCiphertextBlob: Uint8Array
  /** DER PKCS#8. Zero it when done. */
  privateKey: Buffer
}

const RSAES_OAEP_SHA_256 = 'RSAES_OAEP_SHA_256'

export class RecipientClient {
  readonly #kms: KMSClient
  readonly #attester: Attester
  readonly #log: Logger
  #key: RecipientKey

  private constructor(opts: RecipientClientOptions, key: RecipientKey) {
    this.#kms = opts.kms
    this.#attester = opts.attester
    this.#log = opts.logger ?? silentLogger
    this.#key = key
  }

  /** Makes the ephemeral RSA-2048 key (unless given) and returns a client. */
  static async create(opts: RecipientClientOptions): Promise<RecipientClient> {
    return new RecipientClient(opts, opts.key ?? (await generateRecipientKey()))
  }

  /** DER SPKI of the current recipient key (what the attestation documents carry). */
  get publicKeyDer(): Buffer {
    return this.#key.publicKeyDer
  }

  /** Replaces the ephemeral key; later calls attest the new one. */
  async rotateKey(): Promise<void> {
    this.#key = await generateRecipientKey()
  }

  /** A fresh attestation document binding the current public key. */
  async #recipient(): Promise<{ KeyEncryptionAlgorithm: typeof RSAES_OAEP_SHA_256; AttestationDocument: Uint8Array }> {
    const doc = await this.#attester.attest({ publicKey: this.#key.publicKeyDer })
    return { KeyEncryptionAlgorithm: RSAES_OAEP_SHA_256, AttestationDocument: doc }
  }

  async #send<T>(operation: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f()
    } catch (e) {
      this.#log.warn({ operation, kmsError: (e as { name?: string }).name }, 'KMS request failed')
      // The client's own refusals in the request path (transport checks) keep their code.
      if (e instanceof EnclaveAppError) throw e
      throw new KmsRequestError(operation, e)
    }
  }

  /** Checked first, before any other member, so the leaked secret is zeroed on every path. */
  #refuseLeak(operation: string, leaked: Uint8Array | undefined): void {
    if (leaked !== undefined && leaked.length > 0) {
      leaked.fill(0)
      throw new KmsResponseError(`${operation} returned the plaintext despite the Recipient; refusing it`)
    }
  }

  #open(operation: string, envelope: Uint8Array | undefined): Buffer {
    if (envelope === undefined || envelope.length === 0) throw new KmsResponseError(`${operation} returned no CiphertextForRecipient`)
    return decryptRecipientEnvelope(envelope, this.#key.privateKey)
  }

  /** GenerateDataKey with Recipient: a data key only this enclave can read. */
  async generateDataKey(input: { keyId: string; keySpec?: DataKeySpec; numberOfBytes?: number; encryptionContext?: EncryptionContext }): Promise<DataKey> {
    const Recipient = await this.#recipient()
    const out = await this.#send('GenerateDataKey', () =>
      this.#kms.send(
        new GenerateDataKeyCommand({
          KeyId: input.keyId,
          KeySpec: input.keySpec ?? (input.numberOfBytes === undefined ? 'AES_256' : undefined),
          NumberOfBytes: input.numberOfBytes,
          EncryptionContext: input.encryptionContext,
          Recipient,
        }),
      ),
    )
    this.#refuseLeak('GenerateDataKey', out.Plaintext)
    if (out.CiphertextBlob === undefined || out.KeyId === undefined) throw new KmsResponseError('GenerateDataKey returned no CiphertextBlob/KeyId')
    const plaintext = this.#open('GenerateDataKey', out.CiphertextForRecipient)
    return { keyId: out.KeyId, ciphertextBlob: out.CiphertextBlob, plaintext }
  }

  /** Decrypt with Recipient: the plaintext comes back encrypted to this enclave only. */
  async decrypt(input: { ciphertextBlob: Uint8Array; keyId?: string; encryptionContext?: EncryptionContext }): Promise<{ keyId: string; plaintext: Buffer }> {
    const Recipient = await this.#recipient()
    const out = await this.#send('Decrypt', () =>
      this.#kms.send(
        new DecryptCommand({ CiphertextBlob: input.ciphertextBlob, KeyId: input.keyId, EncryptionContext: input.encryptionContext, Recipient }),
      ),
    )
    this.#refuseLeak('Decrypt', out.Plaintext)
    if (out.KeyId === undefined) throw new KmsResponseError('Decrypt returned no KeyId')
    return { keyId: out.KeyId, plaintext: this.#open('Decrypt', out.CiphertextForRecipient) }
  }

  /** GenerateDataKeyPair with Recipient: the private key is readable only here. */
  async generateDataKeyPair(input: { keyId: string; keyPairSpec: DataKeyPairSpec; encryptionContext?: EncryptionContext }): Promise<DataKeyPair> {
    const Recipient = await this.#recipient()
    const out = await this.#send('GenerateDataKeyPair', () =>
      this.#kms.send(
        new GenerateDataKeyPairCommand({ KeyId: input.keyId, KeyPairSpec: input.keyPairSpec, EncryptionContext: input.encryptionContext, Recipient }),
      ),
    )
    this.#refuseLeak('GenerateDataKeyPair', out.PrivateKeyPlaintext)
    if (out.KeyId === undefined || out.PublicKey === undefined || out.PrivateKeyCiphertextBlob === undefined) {
      throw new KmsResponseError('GenerateDataKeyPair returned no KeyId/PublicKey/PrivateKeyCiphertextBlob')
    }
    const privateKey = this.#open('GenerateDataKeyPair', out.CiphertextForRecipient)
    return {
      keyId: out.KeyId,
      keyPairSpec: out.KeyPairSpec ?? input.keyPairSpec,
      publicKey: out.PublicKey,
      privateKeyCiphertextBlob: out.PrivateKeyCiphertextBlob,
      privateKey,
    }
  }

  /** GenerateRandom with Recipient: random bytes the parent never sees. */
  async generateRandom(numberOfBytes: number): Promise<Buffer> {
    const Recipient = await this.#recipient()
    const out = await this.#send('GenerateRandom', () => this.#kms.send(new GenerateRandomCommand({ NumberOfBytes: numberOfBytes, Recipient })))
    this.#refuseLeak('GenerateRandom', out.Plaintext)
    return this.#open('GenerateRandom', out.CiphertextForRecipient)
  }

  /** DeriveSharedSecret (ECDH) with Recipient: the shared secret is readable only here. */
  async deriveSharedSecret(input: { keyId: string; publicKey: Uint8Array }): Promise<{ keyId: string; sharedSecret: Buffer }> {
    const Recipient = await this.#recipient()
    const out = await this.#send('DeriveSharedSecret', () =>
      this.#kms.send(new DeriveSharedSecretCommand({ KeyId: input.keyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: input.publicKey, Recipient })),
    )
    this.#refuseLeak('DeriveSharedSecret', out.SharedSecret)
    if (out.KeyId === undefined) throw new KmsResponseError('DeriveSharedSecret returned no KeyId')
    return { keyId: out.KeyId, sharedSecret: this.#open('DeriveSharedSecret', out.CiphertextForRecipient) }
  }
}
