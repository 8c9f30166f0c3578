/**
 * vsock-bridge: one `connect(address)` / `listen(address)` API over AF_VSOCK, unix sockets and
 * TCP, with one address syntax (`vsock://cid:port`, `unix:/path`, `unix:@name`, `tcp://host:port`).
 * @module
 */
export {
  parseAddress,
  formatAddress,
  toAddress,
  VMADDR_CID_ANY,
  VMADDR_CID_HOST,
  VMADDR_CID_LOCAL,
  VMADDR_CID_PARENT,
  MAX_ADDRESS_LENGTH,
  type Address,
  type VsockAddress,
  type UnixAddress,
  type TcpAddress,
  type ParseAddressOptions,
} from './address.js'
export { connect, DEFAULT_CONNECT_TIMEOUT_MS, type ConnectOptions } from './connect.js'
export { listen, type Listener, type ListenOptions, type ConnectionHandler } from './listen.js'
export { endpoints, type Endpoints } from './endpoints.js'
export { AddressError, VsockUnavailableError, ConnectAbortedError, SocketError, type VsockBridgeErrorCode } from './errors.js'
export { localCid, vsockAvailable } from './vsock.js'
export { relay, type RelayStats } from './relay.js'
