/**
 * The operation table: request shape (from the KMS service model) and handler per target.
 * @module
 */
import type { OpContext } from '../context.js'
import { ALL_KEY_SPECS, DATA_KEY_PAIR_SPECS, ENCRYPTION_ALGORITHMS, KEY_USAGES, SIGNING_ALGORITHMS } from '../keyspec.js'
import type { Shape, Value } from '../schema.js'
import { createAlias, deleteAlias, listAliases } from './aliases.js'
import { deriveSharedSecret, getPublicKey, signOp, verifyOp } from './asymmetric.js'
import { generateDataKeyPair, generateDataKeyPairWithoutPlaintext } from './data-key-pair.js'
import { cancelKeyDeletion, createKey, describeKey, disableKey, enableKey, getKeyPolicy, listKeys, putKeyPolicy, scheduleKeyDeletion } from './keys.js'
import { generateRandom } from './random.js'
import { decrypt, encrypt, generateDataKey, generateDataKeyWithoutPlaintext, reEncrypt } from './symmetric.js'

export type Handler = (req: Record<string, Value>, ctx: OpContext) => Promise<Record<string, unknown>>

export interface Operation {
  members: Record<string, Shape>
  handler: Handler
}

const KeyId: Shape = { t: 'string', min: 1, max: 2048, required: true }
const OptionalKeyId: Shape = { t: 'string', min: 1, max: 2048 }
const GrantTokens: Shape = { t: 'list', of: { t: 'string', min: 1, max: 8192 }, max: 10 }
const EncryptionContext: Shape = { t: 'map' }
const DryRun: Shape = { t: 'bool' }
const EncryptionAlgorithm: Shape = { t: 'enum', values: ENCRYPTION_ALGORITHMS }
const Recipient: Shape = {
  t: 'struct',
  members: {
    KeyEncryptionAlgorithm: { t: 'enum', values: ['RSAES_OAEP_SHA_256'], required: true },
    AttestationDocument: { t: 'blob', min: 1, max: 262_144, required: true },
  },
}
const Limit: Shape = { t: 'int', min: 1, max: 1000 }
const Marker: Shape = { t: 'string', min: 1, max: 1024 }
const Policy: Shape = { t: 'string', min: 1, max: 131_072 }
const MessageType: Shape = { t: 'enum', values: ['RAW', 'DIGEST', 'EXTERNAL_MU'] }
const SigningAlgorithm: Shape = { t: 'enum', values: SIGNING_ALGORITHMS, required: true }

/** Every target kms-local answers, by operation name (`X-Amz-Target: TrentService.<name>`). */
export const OPERATIONS: Readonly<Record<string, Operation>> = {
  CreateKey: {
    members: {
      Policy,
      Description: { t: 'string', min: 0, max: 8192 },
      KeyUsage: { t: 'enum', values: KEY_USAGES },
      CustomerMasterKeySpec: { t: 'enum', values: ALL_KEY_SPECS.filter((s) => !s.startsWith('ML_DSA') && s !== 'ECC_NIST_EDWARDS25519') },
      KeySpec: { t: 'enum', values: ALL_KEY_SPECS },
      Origin: { t: 'enum', values: ['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] },
      CustomKeyStoreId: { t: 'string', min: 1, max: 64 },
      BypassPolicyLockoutSafetyCheck: { t: 'bool' },
      Tags: {
        t: 'list',
        max: 50,
        of: { t: 'struct', members: { TagKey: { t: 'string', min: 1, max: 128, required: true }, TagValue: { t: 'string', min: 0, max: 256, required: true } } },
      },
      MultiRegion: { t: 'bool' },
      XksKeyId: { t: 'string', min: 1, max: 128 },
    },
    handler: createKey,
  },
  DescribeKey: { members: { KeyId, GrantTokens }, handler: describeKey },
  ListKeys: { members: { Limit, Marker }, handler: listKeys },
  EnableKey: { members: { KeyId }, handler: enableKey },
  DisableKey: { members: { KeyId }, handler: disableKey },
  ScheduleKeyDeletion: { members: { KeyId, PendingWindowInDays: { t: 'int', min: 1, max: 365 } }, handler: scheduleKeyDeletion },
  CancelKeyDeletion: { members: { KeyId }, handler: cancelKeyDeletion },
  GetKeyPolicy: { members: { KeyId, PolicyName: { t: 'string', min: 1, max: 128 } }, handler: getKeyPolicy },
  PutKeyPolicy: {
    members: { KeyId, PolicyName: { t: 'string', min: 1, max: 128 }, Policy: { ...Policy, required: true }, BypassPolicyLockoutSafetyCheck: { t: 'bool' } },
    handler: putKeyPolicy,
  },
  CreateAlias: { members: { AliasName: { t: 'string', min: 1, max: 256, required: true }, TargetKeyId: KeyId }, handler: createAlias },
  DeleteAlias: { members: { AliasName: { t: 'string', min: 1, max: 256, required: true } }, handler: deleteAlias },
  ListAliases: { members: { KeyId: OptionalKeyId, Limit, Marker }, handler: listAliases },
  Encrypt: {
    members: { KeyId, Plaintext: { t: 'blob', min: 1, max: 4096, required: true }, EncryptionContext, GrantTokens, EncryptionAlgorithm, DryRun },
    handler: encrypt,
  },
  Decrypt: {
    members: {
      CiphertextBlob: { t: 'blob', min: 1, max: 6144, required: true },
      EncryptionContext,
      GrantTokens,
      KeyId: OptionalKeyId,
      EncryptionAlgorithm,
      Recipient,
      DryRun,
      DryRunModifiers: { t: 'list', of: { t: 'enum', values: ['IGNORE_CIPHERTEXT'] } },
    },
    handler: decrypt,
  },
  ReEncrypt: {
    members: {
      CiphertextBlob: { t: 'blob', min: 1, max: 6144, required: true },
      SourceEncryptionContext: EncryptionContext,
      SourceKeyId: OptionalKeyId,
      DestinationKeyId: KeyId,
      DestinationEncryptionContext: EncryptionContext,
      SourceEncryptionAlgorithm: EncryptionAlgorithm,
      DestinationEncryptionAlgorithm: EncryptionAlgorithm,
      GrantTokens,
      DryRun,
    },
    handler: reEncrypt,
  },
  GenerateDataKey: {
    members: {
      KeyId,
      EncryptionContext,
      NumberOfBytes: { t: 'int', min: 1, max: 1024 },
      KeySpec: { t: 'enum', values: ['AES_256', 'AES_128'] },
      GrantTokens,
      Recipient,
      DryRun,
    },
    handler: generateDataKey,
  },
  GenerateDataKeyWithoutPlaintext: {
    members: {
      KeyId,
      EncryptionContext,
      KeySpec: { t: 'enum', values: ['AES_256', 'AES_128'] },
      NumberOfBytes: { t: 'int', min: 1, max: 1024 },
      GrantTokens,
      DryRun,
    },
    handler: generateDataKeyWithoutPlaintext,
  },
  GenerateDataKeyPair: {
    members: { EncryptionContext, KeyId, KeyPairSpec: { t: 'enum', values: DATA_KEY_PAIR_SPECS, required: true }, GrantTokens, Recipient, DryRun },
    handler: generateDataKeyPair,
  },
  GenerateDataKeyPairWithoutPlaintext: {
    members: { EncryptionContext, KeyId, KeyPairSpec: { t: 'enum', values: DATA_KEY_PAIR_SPECS, required: true }, GrantTokens, DryRun },
    handler: generateDataKeyPairWithoutPlaintext,
  },
  GenerateRandom: {
    members: { NumberOfBytes: { t: 'int', min: 1, max: 1024 }, CustomKeyStoreId: { t: 'string', min: 1, max: 64 }, Recipient },
    handler: generateRandom,
  },
  DeriveSharedSecret: {
    members: {
      KeyId,
      KeyAgreementAlgorithm: { t: 'enum', values: ['ECDH'], required: true },
      PublicKey: { t: 'blob', min: 1, max: 8192, required: true },
      GrantTokens,
      DryRun,
      Recipient,
    },
    handler: deriveSharedSecret,
  },
  Sign: {
    members: { KeyId, Message: { t: 'blob', min: 1, max: 4096, required: true }, MessageType, GrantTokens, SigningAlgorithm, DryRun },
    handler: signOp,
  },
  Verify: {
    members: {
      KeyId,
      Message: { t: 'blob', min: 1, max: 4096, required: true },
      MessageType,
      Signature: { t: 'blob', min: 1, max: 6144, required: true },
      SigningAlgorithm,
      GrantTokens,
      DryRun,
    },
    handler: verifyOp,
  },
  GetPublicKey: { members: { KeyId, GrantTokens }, handler: getPublicKey },
}
