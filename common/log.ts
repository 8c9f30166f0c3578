/**
 * pino JSON logs for services. One logger factory so that every service names its
 * component and redacts the same secret-looking fields.
 * @module
 */
import { pino, type Logger, type DestinationStream } from 'pino'
import { UsageError } from './cli.js'

export type { Logger }

/**
 * Fields never written to a log: at the top level and up to two objects deep (pino's redaction
 * has no recursive wildcard). A second line of defence only: code never logs secrets at all.
 */
const SECRET_FIELDS = [
  'privateKey', 'plaintext', 'Plaintext', 'PrivateKeyPlaintext', 'SharedSecret', 'SecretAccessKey',
  'secretAccessKey', 'Token', 'token', 'sessionToken', 'SessionToken',
]
const REDACT = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`])

export const LOG_LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
export const LOG_LEVEL_ENV = 'NITRO_RECIPIENT_LOG_LEVEL'

/**
 * The level to log at: `level` (named `what` in errors, e.g. `--log-level`), else
 * `$NITRO_RECIPIENT_LOG_LEVEL`, else `fallback`. Checked here for every service: pino throws an
 * untyped error for a level it does not know, which reached users as an internal error.
 * @throws {UsageError} for an unknown level, naming where it came from.
 */
export function resolveLogLevel(level: string | undefined, fallback = 'info', what = 'log level'): string {
  const [value, source] = level !== undefined ? [level, what] : [process.env[LOG_LEVEL_ENV], LOG_LEVEL_ENV]
  if (value === undefined) return fallback
  if (!LOG_LEVELS.includes(value)) throw new UsageError(`${source} must be one of ${LOG_LEVELS.join(', ')}`)
  return value
}

export interface LoggerOptions {
  /** Explicit level; else `$NITRO_RECIPIENT_LOG_LEVEL`, else `defaultLevel` (info). */
  level?: string
  defaultLevel?: string
  destination?: DestinationStream
}

/** @throws {UsageError} for an unknown level (see {@link resolveLogLevel}). */
export function createLogger(component: string, opts: LoggerOptions = {}): Logger {
  const level = resolveLogLevel(opts.level, opts.defaultLevel)
  const options = { name: component, level, redact: { paths: REDACT, censor: '[redacted]' } }
  return opts.destination ? pino(options, opts.destination) : pino(options, pino.destination(2))
}

/** A logger that writes nothing (libraries default to it; tests pass a real one). */
export const silentLogger: Logger = pino({ level: 'silent' })
