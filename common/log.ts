/**
 * pino JSON logs for services. One logger factory so that every service names its
 * component and redacts the same secret-looking fields.
 * @module
 */
import { pino, type Logger, type DestinationStream } from 'pino'

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

export function createLogger(component: string, opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  const level = opts.level ?? process.env.NITRO_RECIPIENT_LOG_LEVEL ?? 'info'
  const options = { name: component, level, redact: { paths: REDACT, censor: '[redacted]' } }
  return opts.destination ? pino(options, opts.destination) : pino(options, pino.destination(2))
}

/** A logger that writes nothing (libraries default to it; tests pass a real one). */
export const silentLogger: Logger = pino({ level: 'silent' })
