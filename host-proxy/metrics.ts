/**
 * Prometheus counters for the relay, rendered in the text exposition format (0.0.4) on an
 * optional `/metrics` address. Labels are route names (validated in the config) and fixed reason
 * words, so label cardinality is bounded by the config.
 * @module
 */
import type { CloseReason, RelayResult } from './relay.js'

/** Why a connection was refused before any upstream connect. */
export type DenialReason = 'not_allowlisted' | 'max_connections' | 'shutting_down' | 'address_forbidden'

/** Label values: only `\`, `"` and newline need escaping in the text format. */
function esc(v: string): string {
  if (!/[\\"\n]/.test(v)) return v
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

class Counter {
  readonly values = new Map<string, number>()
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'gauge') {}
  add(labels: Record<string, string>, n = 1): void {
    let key = ''
    for (const k in labels) key += `${key === '' ? '' : ','}${k}="${esc(labels[k])}"`
    this.values.set(key, (this.values.get(key) ?? 0) + n)
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`)
    for (const [k, v] of this.values) out.push(`${this.name}{${k}} ${v}`)
  }
}

const ERROR_REASONS: ReadonlySet<CloseReason> = new Set([
  'connect_timeout', 'connect_failed', 'resolve_failed', 'client_error', 'upstream_error', 'idle_timeout',
])

/** The proxy's counters. One instance per process, shared across config reloads. */
export class ProxyMetrics {
  readonly #accepted = new Counter('nitro_recipient_proxy_connections_total', 'Connections accepted on a route (before limits and checks).', 'counter')
  readonly #active = new Counter('nitro_recipient_proxy_connections_active', 'Connections currently being relayed or connecting.', 'gauge')
  readonly #closed = new Counter('nitro_recipient_proxy_connections_closed_total', 'Relayed connections closed, by close reason.', 'counter')
  readonly #bytes = new Counter('nitro_recipient_proxy_bytes_total', 'Bytes relayed: in = enclave to target, out = target to enclave (counted when a connection closes).', 'counter')
  readonly #errors = new Counter('nitro_recipient_proxy_errors_total', 'Connections that ended in an error or timeout, by reason.', 'counter')
  readonly #denials = new Counter('nitro_recipient_proxy_denials_total', 'Connections refused by policy or limits, by reason.', 'counter')
  readonly #credentials = new Counter('nitro_recipient_proxy_credential_requests_total', 'Requests to the credential endpoint, by HTTP status.', 'counter')
  readonly #started = Date.now() / 1000

  accepted(route: string): void {
    this.#accepted.add({ route })
  }

  opened(route: string): void {
    this.#active.add({ route }, 1)
  }

  denied(route: string, reason: DenialReason): void {
    this.#denials.add({ route, reason })
  }

  /** Records a finished relay that had been {@link opened}. */
  closed(route: string, r: RelayResult): void {
    this.#active.add({ route }, -1)
    this.#closed.add({ route, reason: r.reason })
    this.#bytes.add({ route, direction: 'in' }, r.bytesIn)
    this.#bytes.add({ route, direction: 'out' }, r.bytesOut)
    if (r.reason === 'address_forbidden') this.denied(route, 'address_forbidden')
    else if (ERROR_REASONS.has(r.reason)) this.#errors.add({ route, reason: r.reason })
  }

  credentialRequest(status: number): void {
    this.#credentials.add({ status: String(status) })
  }

  /** The text exposition format. */
  render(): string {
    const out: string[] = []
    for (const c of [this.#accepted, this.#active, this.#closed, this.#bytes, this.#errors, this.#denials, this.#credentials]) c.render(out)
    out.push('# HELP process_resident_memory_bytes Resident set size in bytes.', '# TYPE process_resident_memory_bytes gauge',
      `process_resident_memory_bytes ${process.memoryUsage.rss()}`)
    out.push('# HELP process_start_time_seconds Start time of the process since the Unix epoch.', '# TYPE process_start_time_seconds gauge',
      `process_start_time_seconds ${this.#started}`)
    return `${out.join('\n')}\n`
  }
}
