/**
 * `nitro-recipient vsock <command>`: small tools over the bridge (local CID, probe, stdio
 * connect, a listening relay). Thin: the work is in connect/listen/relay.
 * @module
 */
import type { Socket } from 'node:net'
import { EXIT_FAILED, EXIT_OK, UsageError, commandMain, parse, type Io, type Main } from '../common/cli.js'
import { createLogger, type Logger } from '../common/log.js'
import { formatAddress, parseAddress, type Address } from './address.js'
import { connect, DEFAULT_CONNECT_TIMEOUT_MS } from './connect.js'
import { endpoints } from './endpoints.js'
import { listen, type Listener } from './listen.js'
import { tryLoadBinding } from './native.js'
import { relay } from './relay.js'
import { localCid } from './vsock.js'

const COMMAND = 'nitro-recipient vsock'

export const HELP = `Usage: ${COMMAND} <command> [options]

AF_VSOCK, unix and TCP streams with one address syntax:
  vsock://<cid>:<port>   cid: a number, 'parent' (3), 'local' (1) or 'any' (listen on all)
  unix:/path/to.sock     unix:@name for a Linux abstract socket
  tcp://host:port        tcp://[::1]:port for IPv6

Commands:
  info                     is AF_VSOCK usable here: addon built, /dev/vsock, local CID
  local-cid                print this machine's vsock CID (ioctl on /dev/vsock)
  probe <address>          connect once, report the endpoints and the time taken, close
  connect <address>        copy stdin to the stream and the stream to stdout (like socat STDIO)
  pipe <listen> <target>   accept on <listen>, relay each connection to <target> (half-closes
                           forwarded), until SIGINT/SIGTERM; pino JSON logs on stderr. A
                           development tool with no allowlist: the parent's production relay
                           is 'nitro-recipient proxy'

Options:
  --timeout <ms>           connect timeout (default ${DEFAULT_CONNECT_TIMEOUT_MS})
  --max-connections <n>    pipe: refuse connections beyond n open ones
  --once                   pipe: serve one connection, then exit
  --json                   info, local-cid, probe: print JSON
  -h, --help               show this help

Exit codes: 0 ok, 1 failed (error code printed, e.g. ECONNREFUSED, ERR_VSOCK_UNAVAILABLE),
2 usage error.
`

/** The CLI entry point (see {@link HELP}). */
export const main: Main = commandMain({ name: COMMAND, help: HELP, jsonErrors: true, run })

async function run(command: string, rest: string[], io: Io): Promise<number> {
  const { values, positionals } = parse({
    args: rest,
    allowPositionals: true,
    options: {
      timeout: { type: 'string' },
      'max-connections': { type: 'string' },
      once: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    io.stdout.write(HELP)
    return EXIT_OK
  }
  const timeoutMs = values.timeout === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : positiveInt(values.timeout, '--timeout')
  const arity = (n: number, what: string): void => {
    if (positionals.length !== n) throw new UsageError(`${command}: expected ${what}`)
  }
  const out = (obj: unknown, text: string): void => {
    io.stdout.write(values.json === true ? `${JSON.stringify(obj)}\n` : `${text}\n`)
  }
  switch (command) {
    case 'info': {
      arity(0, 'no operands')
      const loaded = tryLoadBinding()
      let cid: number | undefined
      let cidError: string | undefined
      try {
        cid = localCid()
      } catch (e) {
        cidError = (e as Error).message
      }
      const info = {
        ok: cid !== undefined,
        addon: 'binding' in loaded,
        ...('error' in loaded ? { addon_error: loaded.error.message } : {}),
        local_cid: cid ?? null,
        ...(cidError !== undefined && 'binding' in loaded ? { error: cidError } : {}),
      }
      out(info, cid !== undefined ? `AF_VSOCK available; local CID ${cid}` : `AF_VSOCK unavailable: ${'error' in loaded ? loaded.error.message : cidError}`)
      return cid !== undefined ? EXIT_OK : EXIT_FAILED
    }
    case 'local-cid': {
      arity(0, 'no operands')
      const cid = localCid()
      out({ ok: true, local_cid: cid }, String(cid))
      return EXIT_OK
    }
    case 'probe': {
      arity(1, 'one address')
      const address = parseAddress(positionals[0])
      const started = process.hrtime.bigint()
      const s = await connect(address, { timeoutMs })
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      const ends = endpoints(s)
      s.destroy()
      const fmt = (a: Address | undefined): string | null => (a === undefined ? null : formatAddress(a))
      out(
        { ok: true, address: formatAddress(address), local: fmt(ends.local), remote: fmt(ends.remote), connect_ms: Math.round(ms * 1000) / 1000 },
        `connected to ${formatAddress(address)} in ${ms.toFixed(1)} ms (local ${fmt(ends.local) ?? '-'}, remote ${fmt(ends.remote) ?? '-'})`,
      )
      return EXIT_OK
    }
    case 'connect': {
      arity(1, 'one address')
      const s = await connect(positionals[0], { timeoutMs, allowHalfOpen: true })
      return stdio(s, io)
    }
    case 'pipe': {
      arity(2, '<listen-address> <target-address>')
      const from = parseAddress(positionals[0], { allowPortZero: true })
      const to = parseAddress(positionals[1])
      const maxConnections = values['max-connections'] === undefined ? undefined : positiveInt(values['max-connections'], '--max-connections')
      const log = createLogger('vsock-pipe')
      const stop = new AbortController()
      const onSignal = (): void => stop.abort()
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      try {
        const p = await pipe(from, to, { timeoutMs, maxConnections, once: values.once === true, log, signal: stop.signal })
        await p.done
      } finally {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
      }
      return EXIT_OK
    }
    default:
      throw new UsageError(`unknown command '${command}'`)
  }
}

function positiveInt(v: string, what: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(v) || Number(v) > 2 ** 31 - 1) throw new UsageError(`${what}: expected a positive integer, got ${JSON.stringify(v)}`)
  return Number(v)
}

/** socat's default -t: how long stdin may still be sent after the peer's end of stream. */
const PEER_EOF_LINGER_MS = 500

/** stdin -> socket, socket -> stdout; resolves when the socket has closed. */
function stdio(s: Socket, io: Io): Promise<number> {
  return new Promise<number>((resolve) => {
    let failed: Error | undefined
    s.on('error', (e) => (failed = e))
    io.stdin.pipe(s)
    s.pipe(io.stdout, { end: false })
    // As socat: once the peer has finished sending, stdin gets half a second more, then the
    // stream closes (interactive use would otherwise wait for Ctrl-D after the peer hung up).
    let linger: NodeJS.Timeout | undefined
    s.once('end', () => (linger = setTimeout(() => s.destroy(), PEER_EOF_LINGER_MS)))
    s.once('close', () => {
      clearTimeout(linger)
      io.stdin.unpipe(s)
      io.stdin.pause()
      if (failed !== undefined) {
        io.stderr.write(`${COMMAND}: error ${(failed as NodeJS.ErrnoException).code ?? 'EIO'}: ${failed.message}\n`)
        resolve(EXIT_FAILED)
      } else resolve(EXIT_OK)
    })
  })
}

/** Options of {@link pipe}. */
export interface PipeOptions {
  timeoutMs: number
  maxConnections?: number
  /** Serve one connection, then close the listener. */
  once?: boolean
  log: Logger
  signal?: AbortSignal
}

/**
 * The `pipe` command as a function: listens on `from`, relays each connection to `to`.
 * `done` resolves after the listener closed (signal, or `once` after its connection).
 */
export async function pipe(from: Address, to: Address, opts: PipeOptions): Promise<{ listener: Listener; done: Promise<void> }> {
  let finish!: () => void
  const finished = new Promise<void>((r) => (finish = r))
  let served = 0
  const target = formatAddress(to)
  const listener = await listen(
    from,
    (inbound) => {
      const id = ++served
      if (opts.once === true && id > 1) {
        inbound.destroy()
        return
      }
      inbound.on('error', () => {})
      void (async () => {
        const peer = endpoints(inbound).remote
        opts.log.info({ id, peer: peer === undefined ? null : formatAddress(peer) }, 'connection accepted')
        let upstream: Socket
        try {
          upstream = await connect(to, { timeoutMs: opts.timeoutMs, allowHalfOpen: true })
        } catch (e) {
          opts.log.warn({ id, target, code: (e as NodeJS.ErrnoException).code }, 'upstream connect failed')
          inbound.destroy()
          if (opts.once === true) finish()
          return
        }
        const stats = await relay(inbound, upstream)
        opts.log.info({ id, a_to_b: stats.aToB, b_to_a: stats.bToA, error: stats.error?.message ?? null }, 'connection closed')
        if (opts.once === true) finish()
      })()
    },
    { allowHalfOpen: true, maxConnections: opts.maxConnections, onError: (e) => opts.log.warn({ err: e.message }, 'accept failed') },
  )
  opts.log.info({ listen: formatAddress(listener.address), target }, 'listening')
  opts.signal?.addEventListener('abort', () => finish(), { once: true })
  if (opts.signal?.aborted === true) finish()
  const done = finished.then(async () => {
    await listener.close({ graceMs: 1000 })
    opts.log.info('stopped')
  })
  return { listener, done }
}
