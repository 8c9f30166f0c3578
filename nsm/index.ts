/**
 * The Nitro Security Module: the `Attester` interface, the NSM protocol codec, the `/dev/nsm`
 * client, the NSM server and its client, and the development simulator.
 * @module
 */
export * from './attester.js'
export * from './errors.js'
export { encodeRequest, decodeRequest, type NsmRequest, type NsmRequestType } from './codec/request.js'
export { encodeResponse, decodeResponse, type NsmResponse, type NsmResponseType } from './codec/response.js'
export { NsmSimulator, type SimulatorOptions, type OpenOptions } from './simulator/index.js'
