/**
 * `nitro-recipient nsm simulator serve`: a simulator directory served over the NSM protocol.
 * @module
 */
import type { Logger } from '../../common/log.js'
import { formatAddress, type Listener } from '../../vsock-bridge/index.js'
import { serveNsm, type ServeOptions } from '../transport/server.js'
import { NsmSimulator } from './simulator.js'

export interface SimulatorServer {
  simulator: NsmSimulator
  listener: Listener
  /** The bound address (a tcp/vsock port 0 resolved), in the `--nsm` syntax. */
  address: string
}

/** Opens the simulator in `dir` and serves it on `address`. Close `listener` to stop. */
export async function startSimulatorServer(dir: string, address: string, opts: ServeOptions & { logger: Logger }): Promise<SimulatorServer> {
  const simulator = await NsmSimulator.open(dir, { logger: opts.logger })
  const listener = await serveNsm(simulator, address, opts)
  const bound = formatAddress(listener.address)
  opts.logger.warn({ address: bound, moduleId: simulator.moduleId, root: `${dir}/root.pem` }, 'NSM SIMULATOR serving: clients get development documents, not AWS ones')
  return { simulator, listener, address: bound }
}
