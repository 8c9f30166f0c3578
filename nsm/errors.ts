/**
 * Errors of the NSM component. Two families:
 *
 * - The NSM's own `ErrorCode` names (aws-nitro-enclaves-nsm-api `src/api/mod.rs`), one class
 *   each, carrying `nsmCode` (the wire name) and a stable `code` `ERR_NSM_<NAME>`. A device,
 *   server or simulator answering `{"Error": "<name>"}` surfaces as exactly that class, and the
 *   simulator raises the same classes, so callers handle real and simulated NSMs alike.
 * - Failures around the NSM: malformed responses, the device or addon missing, transport and
 *   simulator-state problems.
 * @module
 */
import { NitroError } from '../common/errors.js'

/** The NSM `ErrorCode` names as they appear on the wire, in the Rust enum's order. */
export const NSM_ERROR_NAMES = [
  'Success',
  'InvalidArgument',
  'InvalidIndex',
  'InvalidResponse',
  'ReadOnlyIndex',
  'InvalidOperation',
  'BufferTooSmall',
  'InputTooLarge',
  'InternalError',
] as const
export type NsmErrorName = (typeof NSM_ERROR_NAMES)[number]

/** Every code an NsmError can carry. */
export const NSM_ERROR_CODES = [
  // the NSM's own ErrorCode names
  'ERR_NSM_INVALID_ARGUMENT',
  'ERR_NSM_INVALID_INDEX',
  'ERR_NSM_INVALID_RESPONSE',
  'ERR_NSM_READ_ONLY_INDEX',
  'ERR_NSM_INVALID_OPERATION',
  'ERR_NSM_BUFFER_TOO_SMALL',
  'ERR_NSM_INPUT_TOO_LARGE',
  'ERR_NSM_INTERNAL_ERROR',
  // around the NSM
  'ERR_NSM_PROTOCOL',
  'ERR_NSM_UNAVAILABLE',
  'ERR_NSM_IO',
  'ERR_NSM_TRANSPORT',
  'ERR_NSM_SIMULATOR_STATE',
] as const
export type NsmErrorCode = (typeof NSM_ERROR_CODES)[number]

/** Base of every NSM error. */
export class NsmError extends NitroError {
  declare readonly code: NsmErrorCode
}

/** An error the NSM itself reports (`{"Error": name}`), or the simulator's equivalent. */
export abstract class NsmCodeError extends NsmError {
  /** The NSM ErrorCode name, e.g. `InvalidIndex`. */
  abstract readonly nsmCode: Exclude<NsmErrorName, 'Success'>
}

export class NsmInvalidArgumentError extends NsmCodeError {
  readonly nsmCode = 'InvalidArgument' as const
  constructor(message = 'NSM: InvalidArgument') {
    super('ERR_NSM_INVALID_ARGUMENT', message)
  }
}
export class NsmInvalidIndexError extends NsmCodeError {
  readonly nsmCode = 'InvalidIndex' as const
  constructor(message = 'NSM: InvalidIndex') {
    super('ERR_NSM_INVALID_INDEX', message)
  }
}
export class NsmInvalidResponseError extends NsmCodeError {
  readonly nsmCode = 'InvalidResponse' as const
  constructor(message = 'NSM: InvalidResponse') {
    super('ERR_NSM_INVALID_RESPONSE', message)
  }
}
export class NsmReadOnlyIndexError extends NsmCodeError {
  readonly nsmCode = 'ReadOnlyIndex' as const
  constructor(message = 'NSM: ReadOnlyIndex') {
    super('ERR_NSM_READ_ONLY_INDEX', message)
  }
}
export class NsmInvalidOperationError extends NsmCodeError {
  readonly nsmCode = 'InvalidOperation' as const
  constructor(message = 'NSM: InvalidOperation') {
    super('ERR_NSM_INVALID_OPERATION', message)
  }
}
export class NsmBufferTooSmallError extends NsmCodeError {
  readonly nsmCode = 'BufferTooSmall' as const
  constructor(message = 'NSM: BufferTooSmall') {
    super('ERR_NSM_BUFFER_TOO_SMALL', message)
  }
}
export class NsmInputTooLargeError extends NsmCodeError {
  readonly nsmCode = 'InputTooLarge' as const
  constructor(message = 'NSM: InputTooLarge') {
    super('ERR_NSM_INPUT_TOO_LARGE', message)
  }
}
export class NsmInternalError extends NsmCodeError {
  readonly nsmCode = 'InternalError' as const
  constructor(message = 'NSM: InternalError') {
    super('ERR_NSM_INTERNAL_ERROR', message)
  }
}

/** A response that is not valid CBOR, not a known shape, or not the answer to the request. */
export class NsmProtocolError extends NsmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_NSM_PROTOCOL', message, options)
  }
}

/** No NSM here: the native addon is not built or `/dev/nsm` does not exist. */
export class NsmUnavailableError extends NsmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_NSM_UNAVAILABLE', message, options)
  }
}

/** The ioctl (or open) failed with an errno other than EMSGSIZE. */
export class NsmIoError extends NsmError {
  /** errno name, e.g. `ENOTTY`. */
  readonly errno: string
  constructor(errno: string, message: string) {
    super('ERR_NSM_IO', message)
    this.errno = errno
  }
}

/** Talking to an NSM server failed: connection, framing, bounds, timeout. */
export class NsmTransportError extends NsmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_NSM_TRANSPORT', message, options)
  }
}

/** The simulator's directory is missing, incomplete or inconsistent. */
export class NsmSimulatorStateError extends NsmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_NSM_SIMULATOR_STATE', message, options)
  }
}

const BY_NAME: Record<Exclude<NsmErrorName, 'Success'>, new (message?: string) => NsmCodeError> = {
  InvalidArgument: NsmInvalidArgumentError,
  InvalidIndex: NsmInvalidIndexError,
  InvalidResponse: NsmInvalidResponseError,
  ReadOnlyIndex: NsmReadOnlyIndexError,
  InvalidOperation: NsmInvalidOperationError,
  BufferTooSmall: NsmBufferTooSmallError,
  InputTooLarge: NsmInputTooLargeError,
  InternalError: NsmInternalError,
}

/** True when `name` is one of the NSM ErrorCode names (including `Success`). */
export function isNsmErrorName(name: unknown): name is NsmErrorName {
  return typeof name === 'string' && (NSM_ERROR_NAMES as readonly string[]).includes(name)
}

/**
 * The typed error for an NSM ErrorCode name. `Success` inside an `Error` response is itself
 * a malformed answer, so it becomes a protocol error rather than something that looks like success.
 */
export function nsmErrorFromName(name: NsmErrorName, detail?: string): NsmCodeError | NsmProtocolError {
  if (name === 'Success') return new NsmProtocolError('NSM answered Error with code Success')
  const Cls = BY_NAME[name]
  return new Cls(detail === undefined ? `NSM: ${name}` : `NSM: ${name}: ${detail}`)
}
