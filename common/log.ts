/**
 * pino JSON logs for services. One logger factory so that every service names its
 * component and redacts the same secret-looking fields.
 * @module
 */
import { pino, type Logger, type DestinationStream } from 'pino'

export type { Logger }

/** Fields never written to a log, wherever they appear. */
const REDACT = [
  'privateKey', '*.privateKey', 'plaintext', '*.plaintext', 'Plaintext', '*.Plaintext',
  'PrivateKeyPlaintext', '*.PrivateKeyPlaintext', 'SecretAccessKey', '*.SecretAccessKey',
  'secretAccessKey', '*.secretAccessKey', 'Token', '*.Token', 'sessionToken', '*.sessionToken',
]

export function createLogger(component: string, opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  const level = opts.level ?? process.env.NITRO_RECIPIENT_LOG_LEVEL ?? 'info'
  const options = { name: component, level, redact: { paths: REDACT, censor: '[redacted]' } }
  return opts.destination ? pino(options, opts.destination) : pino(options, pino.destination(2))
}

/** A logger that writes nothing (libraries default to it; tests pass a real one). */
export const silentLogger: Logger = pino({ level: 'silent' })
