/**
 * `openAttester(spec)`: the one place that decides which NSM a process talks to. Selection is
 * always explicit; nothing falls back to a simulator when the device is missing.
 *
 *   (nothing)               `NITRO_RECIPIENT_NSM` if set, else `/dev/nsm`
 *   /dev/nsm, /any/path     the device, through the native addon
 *   unix:/path, unix:@name  an NSM server (e.g. `nitro-recipient nsm simulator serve`)
 *   tcp://host:port         an NSM server over TCP
 *   vsock://cid:port        an NSM server over vsock
 *   simulator:<dir>         the simulator in this process, from a directory made by `simulator init`
 * @module
 */
import { silentLogger, type Logger } from '../common/log.js'
import { parseAddress } from '../vsock-bridge/index.js'
import type { Attester } from './attester.js'
import { NsmUnavailableError } from './errors.js'
import { ProtocolAttester } from './protocol-attester.js'
import { NsmSimulator } from './simulator/simulator.js'
import { ServerTransport, type ServerClientOptions } from './transport/client.js'
import { DEFAULT_NSM_DEVICE, DeviceTransport } from './transport/device.js'

/** Environment variable naming the NSM to use when no spec is given. */
export const NSM_ENV = 'NITRO_RECIPIENT_NSM'

export interface OpenAttesterOptions extends ServerClientOptions {
  /** Logs which NSM was chosen (a simulator warns). Default: silent. */
  logger?: Logger
  /** Environment to read {@link NSM_ENV} from. Default `process.env`. */
  env?: NodeJS.ProcessEnv
}

/** Resolves the spec actually used: the argument, else the environment, else `/dev/nsm`. */
export function resolveNsmSpec(spec: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (spec !== undefined && spec !== '') return spec
  const fromEnv = env[NSM_ENV]
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_NSM_DEVICE
}

/** Opens the NSM named by `spec` (see the module comment). */
export async function openAttester(spec?: string, opts: OpenAttesterOptions = {}): Promise<Attester> {
  const s = resolveNsmSpec(spec, opts.env)
  const log = opts.logger ?? silentLogger
  if (s.startsWith('/')) {
    const a = new ProtocolAttester(await DeviceTransport.open(s))
    log.info({ nsm: s }, 'using the NSM device')
    return a
  }
  if (s.startsWith('simulator:')) {
    const dir = s.slice('simulator:'.length)
    if (dir === '') throw new NsmUnavailableError('simulator: needs a directory (simulator:<dir>, made by `nitro-recipient nsm simulator init --dir <dir>`)')
    // NsmSimulator warns on its own that it is a simulator.
    return NsmSimulator.open(dir, { logger: opts.logger })
  }
  // Anything else must be a server address; parseAddress rejects the rest with ERR_ADDRESS_INVALID.
  const address = parseAddress(s)
  const a = new ProtocolAttester(new ServerTransport(address, opts))
  log.warn({ nsm: a.description }, 'using an NSM server, not /dev/nsm (a simulator unless you serve real hardware)')
  return a
}
