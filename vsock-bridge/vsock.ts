/**
 * AF_VSOCK streams. Until the native addon lands, every vsock address fails with
 * ERR_VSOCK_UNAVAILABLE.
 * @module
 */
import type * as net from 'node:net'
import type { VsockAddress } from './address.js'
import { formatAddress } from './address.js'
import { VsockUnavailableError } from './errors.js'
import type { ConnectionHandler, Listener, ListenSettings } from './listen.js'

/** @internal */
export interface VsockConnectSettings {
  timeoutMs: number
  signal: AbortSignal | undefined
  allowHalfOpen: boolean
}

/** @internal */
export function connectVsock(a: VsockAddress, _s: VsockConnectSettings): Promise<net.Socket> {
  return Promise.reject(new VsockUnavailableError(`${formatAddress(a)}: AF_VSOCK support is not built into this installation`))
}

/** @internal */
export function listenVsock(a: VsockAddress, _h: ConnectionHandler, _s: ListenSettings): Promise<Listener> {
  return Promise.reject(new VsockUnavailableError(`${formatAddress(a)}: AF_VSOCK support is not built into this installation`))
}
