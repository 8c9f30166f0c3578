/**
 * Small helpers shared by every component's thin `main`: strict argument parsing on
 * node:util's parseArgs, the exit-code convention and error printing.
 *
 * Exit codes: 0 success, 1 the operation failed (a NitroError: code and message printed),
 * 2 usage error (unknown option, missing argument), 3 unexpected internal error.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { NitroError } from './errors.js'

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2
export const EXIT_INTERNAL = 3

/** A command-line usage error: printed with the command's help hint, exit 2. */
export class UsageError extends NitroError {
  constructor(message: string) {
    super('ERR_USAGE', message)
  }
}

/** Streams a command writes to; injectable so tests run mains in-process. */
export interface Io {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  stdin: NodeJS.ReadableStream
}

export const processIo: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }

/** A component's entry point: receives argv after `<component>`, returns an exit code. */
export type Main = (argv: string[], io: Io) => Promise<number>

/**
 * node:util parseArgs (strict by default: unknown options are errors), with its errors turned
 * into UsageError. Pass `allowPositionals: true` where the command takes operands.
 */
export function parse<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config)
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
}

/** Prints an error the CLI way and returns the exit code for it. */
export function reportError(e: unknown, io: Io, command: string): number {
  if (e instanceof UsageError) {
    io.stderr.write(`${command}: ${e.message}\nTry '${command} --help'.\n`)
    return EXIT_USAGE
  }
  if (e instanceof NitroError) {
    io.stderr.write(`${command}: error ${e.code}: ${e.message}\n`)
    return EXIT_FAILED
  }
  io.stderr.write(`${command}: internal error: ${e instanceof Error ? e.message : String(e)}\n`)
  if (process.env.BACKTRACE === '1' && e instanceof Error && e.stack) io.stderr.write(`${e.stack}\n`)
  return EXIT_INTERNAL
}

/**
 * Reads all of stdin or a file (`-` means stdin), refusing more than `maxBytes` while reading: a
 * size from stat would say 0 for a FIFO, /dev/stdin or `<(...)` and let them through unbounded.
 * Too much input is `tooLarge`'s error (default a usage error); a file that cannot be read is a
 * usage error (exit 2), not an internal one.
 */
export async function readInput(
  path: string,
  io: Io,
  maxBytes: number,
  tooLarge: (name: string) => NitroError = (name) => new UsageError(`${name}: larger than ${maxBytes} bytes`),
): Promise<Buffer> {
  const name = path === '-' ? 'stdin' : path
  const chunks: Buffer[] = []
  let total = 0
  const take = (chunk: Buffer | string): void => {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    total += b.length
    if (total > maxBytes) throw tooLarge(name)
    chunks.push(b)
  }
  if (path === '-') {
    for await (const chunk of io.stdin as AsyncIterable<Buffer | string>) take(chunk)
    return Buffer.concat(chunks)
  }
  const { createReadStream } = await import('node:fs')
  try {
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) take(chunk)
  } catch (e) {
    if (e instanceof NitroError) throw e
    throw new UsageError(`${path}: ${(e as NodeJS.ErrnoException).code ?? 'cannot read'}`)
  }
  return Buffer.concat(chunks)
}

/** Strict hex: even length, [0-9a-f] only (either case); throws UsageError naming `what`. */
export function parseHex(value: string, what: string): Buffer {
  if (value.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(value)) {
    throw new UsageError(`${what}: expected an even number of hex digits`)
  }
  return Buffer.from(value, 'hex')
}

/**
 * The top-level help convention of every component: no command prints the help and is a usage
 * error (exit 2); `help`, `-h` or `--help` prints it and succeeds. Returns the exit code when the
 * help was printed, `undefined` when `command` is a real command.
 */
export function topLevelHelp(command: string | undefined, help: string, io: Io): number | undefined {
  if (command !== undefined && command !== '--help' && command !== '-h' && command !== 'help') return undefined
  io.stdout.write(help)
  return command === undefined ? EXIT_USAGE : EXIT_OK
}

/** What {@link commandMain} needs to know about a component's CLI. */
export interface CommandSpec {
  /** The prefix of its messages, e.g. `nitro-recipient attestation`. */
  name: string
  help: string
  /**
   * With `--json` on the command line, a failure (a NitroError other than a usage error) is also
   * written to stdout as `{"ok":false,"error":{code,message}}`, so scripts read one JSON object
   * whatever happened.
   */
  jsonErrors?: boolean
  /** Runs `command` (never a help request) with the arguments after it. */
  run: (command: string, rest: string[], io: Io) => Promise<number>
}

/** A component's `main` built from {@link CommandSpec}: help convention, then errors to exit codes. */
export function commandMain(spec: CommandSpec): Main {
  return async (argv, io) => {
    const [command, ...rest] = argv
    try {
      return topLevelHelp(command, spec.help, io) ?? (await spec.run(command as string, rest, io))
    } catch (e) {
      if (spec.jsonErrors === true && argv.includes('--json') && e instanceof NitroError && !(e instanceof UsageError)) {
        io.stdout.write(`${JSON.stringify({ ok: false, error: { code: e.code, message: e.message } })}\n`)
      }
      return reportError(e, io, spec.name)
    }
  }
}
