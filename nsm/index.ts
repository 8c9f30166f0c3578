/**
 * The Nitro Security Module: the `Attester` interface, the NSM protocol codec, the `/dev/nsm`
 * client, the NSM server and its client, and the development simulator.
 * @module
 */
export * from './attester.js'
export * from './errors.js'
export { encodeRequest, decodeRequest, type NsmRequest, type NsmRequestType } from './codec/request.js'
export { encodeResponse, decodeResponse, MAX_MODULE_ID, MAX_LOCKED_PCRS, type NsmResponse, type NsmResponseType } from './codec/response.js'
export { ProtocolAttester, type NsmTransport } from './protocol-attester.js'
export { handleNsmRequest } from './handler.js'
export { openAttester, resolveNsmSpec, NSM_ENV, type OpenAttesterOptions } from './open.js'
export { DeviceTransport, DEFAULT_NSM_DEVICE, SIMULATOR_HINT, loadNsmBinding } from './transport/device.js'
export { ServerTransport, type ServerClientOptions } from './transport/client.js'
export { serveNsm, type ServeOptions } from './transport/server.js'
export { encodeFrame, FrameReader, FRAME_HEADER } from './transport/framing.js'
export { NsmSimulator, type SimulatorOptions, type OpenOptions } from './simulator/index.js'
export { startSimulatorServer, type SimulatorServer } from './simulator/serve.js'
export { pcrsFromEif } from './simulator/eif.js'
