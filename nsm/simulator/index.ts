/**
 * The NSM simulator: in-process (`NsmSimulator.ephemeral()`), or persisted in a directory
 * (`NsmSimulator.init(dir)` / `NsmSimulator.open(dir)`) whose `root.pem` other processes trust.
 * @module
 */
export { NsmSimulator, RANDOM_BYTES, bootPcrs, type SimulatorOptions, type OpenOptions } from './simulator.js'
export { PcrBank, PCR_LENGTH, BOOT_LOCKED_PCRS } from './pcr-bank.js'
export { LIFETIME_MS, RENEW_MARGIN_MS, LEVELS, moduleIdOf, type CaLevel, type Identity } from './ca.js'
export { CONFIG_FILE, SETTABLE_PCRS, certFile, keyFile, type SettablePcr, type SimulatorConfig } from './store.js'
export { encodePayload, sigStructure, PROTECTED_HEADER, type DocumentFields } from './document.js'
