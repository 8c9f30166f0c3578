/**
 * The in-enclave client of the attested-recipient flow.
 * @module
 */
export { RecipientClient, type RecipientClientOptions, type DataKey, type DataKeyPair, type EncryptionContext } from './client.js'
export { generateRecipientKey, type RecipientKey } from './recipient-key.js'
export { tunnelHttpAgent, tunnelHttpsAgent, type TunnelOptions } from './transport.js'
export { EnclaveAppError, KmsRequestError, KmsResponseError, TransportError, type EnclaveAppErrorCode } from './errors.js'
export * from './cms/index.js'
