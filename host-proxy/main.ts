/**
 * `nitro-recipient proxy`: run host-proxy from a YAML config, or with vsock-proxy's own command
 * line (`[-4|-6] [-w N] [--config FILE] <local_port> <remote_addr> <remote_port>`), so an
 * existing `nitro-enclaves-vsock-proxy.service` line works unchanged. Thin: parsing and wiring.
 * @module
 */
import type { EventEmitter } from 'node:events'
import { pino } from 'pino'
import { EXIT_OK, parse, processIo, reportError, UsageError, type Io, type Main } from '../common/cli.js'
import { createLogger, resolveLogLevel } from '../common/log.js'
import { canonicalHost } from './address-class.js'
import { findAllowlistEntry, formatTarget } from './allowlist.js'
import { checkConfig, loadConfig, type IpFamily, type ProxyConfig, type RouteConfig, DEFAULTS } from './config.js'
import { ConfigError, NotAllowlistedError, PortRangeError } from './errors.js'
import type { LookupFn } from './resolver.js'
import { HostProxy } from './server.js'
import { parseAddress } from '../vsock-bridge/index.js'

const COMMAND = 'nitro-recipient proxy'
/** Longest a log line waits in the batch before it is written. */
const LOG_FLUSH_MS = 250
/** vsock-proxy's default allowlist file. */
export const VSOCK_PROXY_DEFAULT_CONFIG = '/etc/nitro_enclaves/vsock-proxy.yaml'

const HELP = `Usage:
  ${COMMAND} --config FILE [--check-config]
  ${COMMAND} [-4|-6] [-w N] [--config FILE] [--listen ADDR] <local_port> <remote_addr> <remote_port>

The parent instance's relay: accepts connections (vsock in production; unix/tcp in development)
and relays their bytes to allowlisted TCP endpoints. TLS stays end to end.

The first form serves every route of a host-proxy YAML config (see deploy/host-proxy.yaml). The
second is vsock-proxy's command line: one route from vsock port <local_port> to
<remote_addr>:<remote_port>, which must be in the allowlist of FILE (default
${VSOCK_PROXY_DEFAULT_CONFIG}; vsock-proxy's allowlist format is accepted).

Options:
  --config FILE        host-proxy YAML config, or a vsock-proxy allowlist file
  --check-config       validate the config (and the route given on the command line), print a
                       summary as JSON and exit: 0 when valid, 1 with the reason otherwise
  -4, --ipv4           dial IPv4 addresses only
  -6, --ipv6           dial IPv6 addresses only
  -w, --num_workers N  accepted for vsock-proxy compatibility and ignored (no worker pool here;
                       connections never queue behind each other)
  --listen ADDR        listen address of the command-line route instead of vsock://any:<local_port>
  --log-level LEVEL    pino level (default info, or NITRO_RECIPIENT_LOG_LEVEL)
  -h, --help           this help

Signals: SIGTERM/SIGINT stop accepting, drain live connections (shutdown_timeout_ms), exit 0.
SIGHUP reloads the config file without dropping live connections.
Logs: pino JSON on stderr, one line per connection (route, bytes each way, duration, reason).
`

/** Extra hooks for tests and embedding. */
export interface RunOptions {
  /** Where SIGTERM/SIGINT/SIGHUP come from (default: the process). */
  signals?: EventEmitter
  lookup?: LookupFn
  /** Called once the proxy is serving. */
  onStarted?: (proxy: HostProxy) => void
}

function parsePortArg(text: string, what: string): number {
  if (!/^(?:0|[1-9][0-9]{0,9})$/.test(text)) throw new PortRangeError(`${what} ${JSON.stringify(text.slice(0, 20))} is not a decimal port number`)
  const n = Number(text)
  // (vsock-proxy's command line refuses such ports too; its `as u16` truncation is in the allowlist file.)
  if (n < 1 || n > 65535) throw new PortRangeError(`${what} must be in 1..65535, got ${n}`)
  return n
}

interface Cli {
  configFile: string | undefined
  check: boolean
  family: IpFamily
  listen: string | undefined
  positionals: string[]
  logLevel: string | undefined
}

/** Adds the command-line route (vsock-proxy form) to `base` and re-checks the whole. */
export function withCommandLineRoute(base: ProxyConfig, positionals: readonly string[], family: IpFamily, listen: string | undefined, file: string): ProxyConfig {
  const [local, remote, remotePort] = positionals
  const localPort = parsePortArg(local, 'local_port')
  const host = canonicalHost(remote)
  if (typeof host !== 'string') throw new ConfigError('remote_addr', host.error)
  const route: RouteConfig = {
    name: 'vsock-proxy',
    listen: listen ?? `vsock://any:${localPort}`,
    target: { address: host, port: parsePortArg(remotePort, 'remote_port') },
    ipFamily: family,
    maxConnections: DEFAULTS.maxConnections,
    connectTimeoutMs: DEFAULTS.connectTimeoutMs,
    idleTimeoutMs: DEFAULTS.idleTimeoutMs,
  }
  // vsock-proxy refused to start for a remote outside its allowlist; so does this, by name.
  if (findAllowlistEntry(base.allowlist, route.target) === undefined) {
    throw new NotAllowlistedError(`${formatTarget(route.target)} is not in the allowlist of ${file}`)
  }
  const config = { ...base, routes: [...base.routes, route] }
  checkConfig(config)
  return config
}

function parseCli(argv: string[]): Cli | null {
  const { values, positionals } = parse({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      'check-config': { type: 'boolean' },
      ipv4: { type: 'boolean', short: '4' },
      ipv6: { type: 'boolean', short: '6' },
      num_workers: { type: 'string', short: 'w' },
      listen: { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) return null
  if (values.ipv4 === true && values.ipv6 === true) throw new UsageError('-4 and -6 are mutually exclusive')
  if (values.num_workers !== undefined && !/^[1-9][0-9]{0,5}$/.test(values.num_workers)) {
    throw new UsageError('--num_workers must be a positive integer')
  }
  // checked with the other options, so that --check-config refuses what the run would
  resolveLogLevel(values['log-level'], 'info', '--log-level')
  if (positionals.length !== 0 && positionals.length !== 3) {
    throw new UsageError('expected <local_port> <remote_addr> <remote_port>, or no operands with --config')
  }
  if (values.listen !== undefined) {
    // Checked here as a config's listen is, or --check-config would pass an address the run refuses.
    try {
      parseAddress(values.listen, { allowPortZero: true })
    } catch (e) {
      throw new UsageError(`--listen: ${(e as Error).message}`)
    }
  }
  if (positionals.length === 0) {
    if (values.config === undefined) throw new UsageError('--config FILE is required')
    if (values.listen !== undefined) throw new UsageError('--listen applies to the command-line route only')
    if (values.ipv4 === true || values.ipv6 === true) throw new UsageError('-4/-6 apply to the command-line route; set ip_family in the config')
  }
  return {
    configFile: values.config,
    check: values['check-config'] === true,
    family: values.ipv4 === true ? 'ipv4' : values.ipv6 === true ? 'ipv6' : 'any',
    listen: values.listen,
    positionals,
    logLevel: values['log-level'],
  }
}

/** A JSON summary of a config, without any secret. */
function summary(c: ProxyConfig): object {
  return {
    ok: true,
    routes: c.routes.map((r) => ({
      name: r.name, listen: r.listen, target: formatTarget(r.target), ip_family: r.ipFamily,
      max_connections: r.maxConnections, connect_timeout_ms: r.connectTimeoutMs, idle_timeout_ms: r.idleTimeoutMs,
    })),
    allowlist: c.allowlist.map((e) => ({ target: formatTarget(e), allow_private: e.allowPrivate })),
    credentials: c.credentials === null ? null : {
      listen: c.credentials.listen, path: c.credentials.path, source: c.credentials.source.kind,
      authorization: c.credentials.authorizationTokenFile !== null,
    },
    metrics: c.metrics,
    shutdown_timeout_ms: c.shutdownTimeoutMs,
  }
}

/** `main` with injectable signals and DNS; see {@link main}. */
export async function runProxy(argv: string[], io: Io, opts: RunOptions = {}): Promise<number> {
  const cli = parseCli(argv)
  if (cli === null) {
    io.stdout.write(HELP)
    return EXIT_OK
  }
  const file = cli.configFile ?? VSOCK_PROXY_DEFAULT_CONFIG
  const load = async (): Promise<ProxyConfig> => {
    const base = await loadConfig(file)
    return cli.positionals.length === 3 ? withCommandLineRoute(base, cli.positionals, cli.family, cli.listen, file) : base
  }
  if (cli.check) {
    io.stdout.write(`${JSON.stringify(summary(await load()), null, 2)}\n`)
    return EXIT_OK
  }
  // SIGHUP's default action ends the process: a reload asked for while the config is read and the
  // listeners open (systemctl reload right after start) is caught from here on, and applied once
  // they are open.
  const signals = opts.signals ?? process
  let hupWhileStarting = false
  const onEarlyHup = (): void => {
    hupWhileStarting = true
  }
  signals.on('SIGHUP', onEarlyHup)
  try {
    const config = await load()
    if (config.routes.length === 0 && config.credentials === null) {
      throw new ConfigError('routes', 'no routes and no credential endpoint: nothing to serve', { file })
    }
    // Asynchronous, batched writes to stderr: a per-connection log line must not cost the relay a
    // write(2) of its own. Lines wait at most LOG_FLUSH_MS (or 4 KiB) and are flushed at shutdown.
    const boom = io === processIo ? pino.destination({ dest: 2, sync: false, minLength: 4096 }) : null
    const flusher = boom === null ? null : setInterval(() => boom.flush(), LOG_FLUSH_MS).unref()
    const logger = createLogger('host-proxy', { level: cli.logLevel, destination: boom ?? io.stderr })
    try {
      const proxy = await HostProxy.start(config, { logger, lookup: opts.lookup })
      let reloading = Promise.resolve()
      const onHup = (): void => {
        reloading = reloading.then(async () => {
          const why = (e: unknown): object => ({ err: e instanceof Error ? e.message : String(e), code: (e as { code?: string }).code })
          let next: ProxyConfig
          try {
            next = await load()
          } catch (e) {
            // A bad new config leaves the running one in place.
            logger.error(why(e), 'reload failed; keeping the previous configuration')
            return
          }
          try {
            await proxy.reload(next)
          } catch (e) {
            // The new config is in force; the part that failed (a listener that could not bind, an
            // unreadable token file) is named here. Saying "kept the previous one" would be false.
            logger.error(why(e), 'configuration reloaded, but not all of it could be applied')
          }
        })
      }
      let onTerm: () => void = () => {}
      let onInt: () => void = () => {}
      const stopped = new Promise<void>((resolve) => {
        const onStop = (signal: string): void => {
          signals.removeListener('SIGTERM', onTerm)
          signals.removeListener('SIGINT', onInt)
          logger.info({ signal }, 'signal received')
          void reloading.then(() => proxy.shutdown()).then(resolve)
        }
        onTerm = () => onStop('SIGTERM')
        onInt = () => onStop('SIGINT')
      })
      signals.on('SIGTERM', onTerm)
      signals.on('SIGINT', onInt)
      signals.on('SIGHUP', onHup)
      if (hupWhileStarting) onHup()
      opts.onStarted?.(proxy)
      await stopped
      signals.removeListener('SIGHUP', onHup)
    } finally {
      if (flusher !== null) clearInterval(flusher)
      try {
        boom?.flushSync()
      } catch {
        // An async write still in flight finishes on its own before the process exits.
      }
    }
  } finally {
    signals.removeListener('SIGHUP', onEarlyHup)
  }
  return EXIT_OK
}

/** `nitro-recipient proxy ...`; see the help text. Errors are printed with their code. */
export const main: Main = async (argv, io) => {
  try {
    return await runProxy(argv, io)
  } catch (e) {
    return reportError(e, io, COMMAND)
  }
}
