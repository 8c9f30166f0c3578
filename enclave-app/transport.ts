/**
 * HTTP(S) agents whose connections run over a stream address (`vsock://3:8000` to host-proxy
 * in production, `unix:`/`tcp://` in development) instead of a direct TCP connection.
 *
 * TLS, when the endpoint is https, is made HERE, on top of the relayed stream, so it ends inside
 * the enclave: the parent instance relays ciphertext only and cannot read or alter KMS traffic.
 * The certificate is checked with Node's `checkServerIdentity` against the endpoint's host (the
 * request's `host`), never against the relay: the stream has no host of its own, and Node's
 * fallback for a missing name would be `localhost`. SNI carries the name (not sent for an IP).
 * @module
 */
import * as http from 'node:http'
import * as https from 'node:https'
import { isIP } from 'node:net'
import type { Duplex } from 'node:stream'
import * as tls from 'node:tls'
import { connect, type Address } from '../vsock-bridge/index.js'
import { TransportError } from './errors.js'

export interface TunnelOptions {
  /** Where the relay listens (the parent's host-proxy route for the KMS endpoint). */
  via: string | Address
  /** Connect timeout of the stream, ms. Default 10 000. */
  connectTimeoutMs?: number
  /** Trust anchors for TLS (PEM), e.g. a development CA; they replace Node's bundled roots. Default: the bundled roots. */
  ca?: string | Buffer | (string | Buffer)[]
}

type Oncreate = (err: Error | null, socket?: Duplex) => void

function tunnelled<T extends http.Agent>(agent: T, opts: TunnelOptions, wrap: (s: Duplex, o: http.ClientRequestArgs) => Duplex): T {
  // Node's Agent accepts an asynchronous createConnection: return nothing, call back later.
  ;(agent as unknown as { createConnection: (o: http.ClientRequestArgs, cb: Oncreate) => undefined }).createConnection = (o, cb) => {
    connect(opts.via, { timeoutMs: opts.connectTimeoutMs }).then(
      (s) => {
        try {
          cb(null, wrap(s, o))
        } catch (e) {
          s.destroy()
          cb(e as Error)
        }
      },
      (e: unknown) => cb(e as Error),
    )
    return undefined
  }
  return agent
}

/** An https.Agent whose TLS connections ride the stream at `opts.via`. */
export function tunnelHttpsAgent(opts: TunnelOptions): https.Agent {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 16 })
  return tunnelled(agent, opts, (socket, o) => {
    // The name the certificate must carry: the endpoint's host as the request was made for it
    // (an IPv6 literal may still be bracketed). With no name there is nothing to check against.
    const raw = typeof o.host === 'string' && o.host !== '' ? o.host : typeof o.hostname === 'string' ? o.hostname : ''
    const host = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw
    if (host === '') throw new TransportError('https request without a host name: no name to verify the certificate against')
    // rejectUnauthorized is spelled out: tls.connect's default turns false when the environment
    // has NODE_TLS_REJECT_UNAUTHORIZED=0, and an unverified KMS lets the parent forge answers.
    return tls.connect({ socket, host, servername: isIP(host) === 0 ? host : undefined, ca: opts.ca, minVersion: 'TLSv1.2', rejectUnauthorized: true })
  })
}

/** An http.Agent over the stream at `opts.via` (plain HTTP: for kms-local in development only). */
export function tunnelHttpAgent(opts: TunnelOptions): http.Agent {
  return tunnelled(new http.Agent({ keepAlive: true, maxSockets: 16 }), opts, (s) => s)
}
