/**
 * The host-proxy service: many routes in one process (vsock-proxy needed one process per
 * endpoint), the credential endpoint and `/metrics`; reload without dropping live connections;
 * graceful shutdown (stop accepting, drain, then close).
 * @module
 */
import { readRegularFile } from '../common/files.js'
import type { Socket } from 'node:net'
import { listen, type Address, type Listener } from '../vsock-bridge/index.js'
import { silentLogger, type Logger } from '../common/log.js'
import { findAllowlistEntry, formatTarget } from './allowlist.js'
import { hasControlChars, type CredentialsConfig, type ProxyConfig, type RouteConfig } from './config.js'
import { createCredentialSource, credentialsHandler } from './credentials.js'
import { ConfigError } from './errors.js'
import { serveHttp, type HttpEndpoint } from './http-endpoint.js'
import { ProxyMetrics, type DenialReason } from './metrics.js'
import { relay, type RelayHandle, type RelayResult } from './relay.js'
import { TargetResolver, type LookupFn } from './resolver.js'

/** Options of {@link HostProxy.start}. */
export interface HostProxyOptions {
  logger?: Logger
  /** DNS lookup, injectable for tests. */
  lookup?: LookupFn
  metrics?: ProxyMetrics
}

interface RouteState {
  config: RouteConfig
  listener: Listener
  active: Set<RelayHandle>
}

interface Service {
  key: string
  endpoint: HttpEndpoint
}

const FOREVER_MS = 2 ** 31 - 1

/**
 * The longest token. The client sends it in a header, and the endpoint refuses requests whose
 * headers exceed 8 KiB (http-endpoint.ts): a longer token could never be presented.
 */
const MAX_TOKEN_CHARS = 4096
/** The longest token file: the token and a CRLF. */
const MAX_TOKEN_FILE_BYTES = MAX_TOKEN_CHARS + 2

/**
 * Reads the credential endpoint's authorization token file (one line, no CR/LF inside), bounded
 * and non-blocking (common/files): `/dev/zero`, a FIFO or a huge file is refused, not slurped.
 */
async function readToken(file: string): Promise<string> {
  const where = 'credentials.authorization_token_file'
  const buf = await readRegularFile(file, MAX_TOKEN_FILE_BYTES, (why, cause) => new ConfigError(where, `${file}: ${why}`, { cause }))
  const text = buf.toString('utf8')
  buf.fill(0)
  const token = text.replace(/\r?\n$/, '')
  if (token.length < 16 || token.length > MAX_TOKEN_CHARS || hasControlChars(token)) {
    throw new ConfigError(where, `the token must be one line of 16 to ${MAX_TOKEN_CHARS} printable characters`)
  }
  return token
}

/** A running proxy. */
export class HostProxy {
  readonly metrics: ProxyMetrics
  readonly #log: Logger
  readonly #lookup: LookupFn | undefined
  #config: ProxyConfig
  #resolver: TargetResolver
  readonly #routes = new Map<string, RouteState>()
  readonly #relays = new Set<RelayHandle>()
  #credentials: Service | null = null
  /** The credential endpoint's current authorization token; re-read from its file on reload. */
  #credentialsToken: string | null = null
  #metricsEndpoint: Service | null = null
  #stopping: Promise<void> | null = null
  #nextId = 1

  private constructor(config: ProxyConfig, opts: HostProxyOptions) {
    this.#config = config
    this.#log = opts.logger ?? silentLogger
    this.#lookup = opts.lookup
    this.metrics = opts.metrics ?? new ProxyMetrics()
    this.#resolver = this.#newResolver(config)
  }

  /**
   * Binds every listener of `config` and starts serving. On failure, whatever was bound is
   * closed again and the error is thrown.
   */
  static async start(config: ProxyConfig, opts: HostProxyOptions = {}): Promise<HostProxy> {
    const p = new HostProxy(config, opts)
    try {
      await p.#apply(config)
    } catch (e) {
      await p.shutdown()
      throw e
    }
    return p
  }

  /** The bound address of each route (a tcp port 0 shows the chosen port). */
  get routeAddresses(): ReadonlyMap<string, Address> {
    return new Map([...this.#routes].map(([n, s]) => [n, s.listener.address]))
  }

  get credentialsAddress(): Address | null {
    return this.#credentials?.endpoint.address ?? null
  }

  get metricsAddress(): Address | null {
    return this.#metricsEndpoint?.endpoint.address ?? null
  }

  /** Connections being relayed or connecting, over every route (retired ones included). */
  get activeConnections(): number {
    return this.#relays.size
  }

  get config(): ProxyConfig {
    return this.#config
  }

  /**
   * Applies a new configuration. Live connections are never dropped: a route whose listen
   * address is unchanged keeps its listener and takes the new settings for new connections; a
   * removed or moved route stops accepting while its connections run to their end.
   * @throws the first error met (the rest of the new config is still applied).
   */
  async reload(config: ProxyConfig): Promise<void> {
    if (this.#stopping !== null) return
    this.#config = config
    this.#resolver = this.#newResolver(config)
    await this.#apply(config)
    this.#log.info({ routes: config.routes.map((r) => r.name) }, 'configuration reloaded')
  }

  /**
   * Stops accepting on every listener, waits up to the configured shutdown timeout for live
   * connections to finish, then closes the rest. Idempotent.
   */
  shutdown(): Promise<void> {
    this.#stopping ??= this.#shutdown()
    return this.#stopping
  }

  async #shutdown(): Promise<void> {
    this.#log.info({ active: this.#relays.size }, 'shutting down: no new connections, draining')
    const closing = [...this.#routes.values()].map((s) => s.listener.close({ graceMs: FOREVER_MS }))
    this.#routes.clear()
    const drained = Promise.all([...this.#relays].map((r) => r.done))
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), this.#config.shutdownTimeoutMs)))
    const late = await Promise.race([drained.then(() => false), timedOut])
    clearTimeout(timer)
    if (late) {
      this.#log.warn({ active: this.#relays.size }, 'shutdown timeout: closing remaining connections')
      for (const r of this.#relays) r.close('shutdown')
      await Promise.all([...this.#relays].map((r) => r.done))
    }
    await Promise.all([
      ...closing,
      this.#credentials?.endpoint.close(),
      this.#metricsEndpoint?.endpoint.close(),
    ])
    this.#credentials = null
    this.#metricsEndpoint = null
    this.#log.info('stopped')
  }

  #newResolver(config: ProxyConfig): TargetResolver {
    return new TargetResolver({ lookup: this.#lookup, minTtlMs: config.dns.minTtlMs, maxTtlMs: config.dns.maxTtlMs })
  }

  async #apply(config: ProxyConfig): Promise<void> {
    const errors: unknown[] = []
    const wanted = new Map(config.routes.map((r) => [r.name, r]))
    // Retire routes that are gone or moved first, so a new route may take over their address.
    for (const [name, state] of this.#routes) {
      const next = wanted.get(name)
      if (next === undefined || next.listen !== state.config.listen) {
        this.#routes.delete(name)
        void state.listener.close({ graceMs: FOREVER_MS })
        this.#log.info({ route: name, active: state.active.size }, 'route retired: no new connections')
      }
    }
    for (const r of config.routes) {
      const state = this.#routes.get(r.name)
      if (state !== undefined) {
        state.config = r
        continue
      }
      try {
        await this.#openRoute(r)
      } catch (e) {
        errors.push(e)
        this.#log.error({ route: r.name, listen: r.listen, err: errMsg(e) }, 'route could not listen')
      }
    }
    try {
      // Re-read the token file on every apply, so rotating the token takes a SIGHUP, not a restart.
      const tokenFile = config.credentials?.authorizationTokenFile ?? null
      this.#credentialsToken = tokenFile === null ? null : await readToken(tokenFile)
      await this.#service(this.#credentials, config.credentials, (c) => this.#openCredentials(c), (svc) => (this.#credentials = svc))
    } catch (e) {
      errors.push(e)
    }
    try {
      await this.#service(this.#metricsEndpoint, config.metrics, (m) =>
        serveHttp(m.listen, (req, res) => {
          if ((req.url ?? '').split('?')[0] !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
            res.writeHead(404).end()
            return
          }
          const body = this.metrics.render()
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) })
          res.end(req.method === 'HEAD' ? undefined : body)
        }, { onError: (e) => this.#log.warn({ err: errMsg(e) }, 'metrics endpoint error') }), (svc) => (this.#metricsEndpoint = svc))
    } catch (e) {
      errors.push(e)
    }
    if (errors.length > 0) throw errors[0]
  }

  /**
   * Restarts an HTTP service when its config section changed (the key excludes nothing secret).
   * `set` is told at once when the old one is closed: if the new one then fails to open, the next
   * reload must open it, not find a closed service under the same key and keep it.
   */
  async #service<C>(current: Service | null, config: C | null, open: (c: C) => Promise<HttpEndpoint>, set: (s: Service | null) => void): Promise<void> {
    const key = config === null ? '' : JSON.stringify(config)
    if (current !== null && current.key === key) return
    if (current !== null) {
      set(null)
      await current.endpoint.close(1000)
    }
    if (config !== null) set({ key, endpoint: await open(config) })
  }

  async #openCredentials(c: CredentialsConfig): Promise<HttpEndpoint> {
    const source = createCredentialSource(c.source)
    const handler = credentialsHandler({
      source,
      path: c.path,
      authorizationToken: () => this.#credentialsToken,
      onRequest: (status, err) => {
        this.metrics.credentialRequest(status)
        if (status === 200) this.#log.info({ status, source: source.description }, 'credentials served')
        else this.#log.warn({ status, source: source.description, err: err === null ? undefined : errMsg(err) }, 'credentials request refused')
      },
    })
    const endpoint = await serveHttp(c.listen, handler, { onError: (e) => this.#log.warn({ err: errMsg(e) }, 'credential endpoint error') })
    this.#log.info({ listen: c.listen, source: source.description, authorization: c.authorizationTokenFile !== null }, 'credential endpoint listening')
    return endpoint
  }

  async #openRoute(r: RouteConfig): Promise<void> {
    const state: RouteState = { config: r, listener: undefined as unknown as Listener, active: new Set() }
    state.listener = await listen(r.listen, (socket) => this.#accept(state, socket), {
      allowHalfOpen: true,
      // Accept-time failures (EMFILE...) are logged; the listener keeps serving.
      onError: (e) => this.#log.error({ route: r.name, err: errMsg(e) }, 'accept failed'),
    })
    this.#routes.set(r.name, state)
    this.#log.info({ route: r.name, listen: r.listen, target: formatTarget(r.target) }, 'route listening')
  }

  #deny(state: RouteState, socket: { destroy(): void }, reason: DenialReason): void {
    socket.destroy()
    this.metrics.denied(state.config.name, reason)
    this.#log.warn({ route: state.config.name, target: formatTarget(state.config.target), reason }, 'connection refused')
  }

  #accept(state: RouteState, socket: Socket): void {
    const route = state.config
    this.metrics.accepted(route.name)
    if (this.#stopping !== null) return this.#deny(state, socket, 'shutting_down')
    if (state.active.size >= route.maxConnections) return this.#deny(state, socket, 'max_connections')
    // The allowlist is checked again at every connect, against the current configuration.
    const entry = findAllowlistEntry(this.#config.allowlist, route.target)
    if (entry === undefined) return this.#deny(state, socket, 'not_allowlisted')
    const id = this.#nextId++
    const handle = relay(socket, route, entry, this.#resolver)
    state.active.add(handle)
    this.#relays.add(handle)
    this.metrics.opened(route.name)
    void handle.done.then((r) => {
      state.active.delete(handle)
      this.#relays.delete(handle)
      this.metrics.closed(route.name, r)
      this.#logClose(route, id, r)
    })
  }

  #logClose(route: RouteConfig, id: number, r: RelayResult): void {
    const line = {
      route: route.name,
      conn: id,
      target: formatTarget(route.target),
      upstream: r.upstreamAddress ?? undefined,
      bytes_in: r.bytesIn,
      bytes_out: r.bytesOut,
      duration_ms: r.durationMs,
      reason: r.reason,
      error: r.errorCode ?? undefined,
    }
    if (r.reason === 'done' || r.reason === 'shutdown') this.#log.info(line, 'connection closed')
    else this.#log.warn(line, 'connection closed')
  }
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}
