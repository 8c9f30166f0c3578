// Shared pieces for the host-proxy tests: loopback TCP servers on ephemeral ports, temp dirs
// for unix listeners, a capturing pino logger, and small stream helpers.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as net from 'node:net'
import { Writable } from 'node:stream'
import { createLogger, type Logger } from '../../common/log.js'
import { connect } from '../../vsock-bridge/index.js'

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'hp-test-'))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export interface TcpServer {
  port: number
  host: string
  server: net.Server
  sockets: Set<net.Socket>
  close: () => Promise<void>
}

/** A TCP server on host:port (port 0 = ephemeral), allowHalfOpen so half-close is observable. */
export async function tcpServer(onSocket: (s: net.Socket) => void, host = '127.0.0.1', port = 0): Promise<TcpServer> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    onSocket(s)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host, port }, () => resolve())
  })
  const actual = (server.address() as net.AddressInfo).port
  return {
    port: actual,
    host,
    server,
    sockets,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    }),
  }
}

/** Echo server: writes back what it reads, ends when the client ends. */
export function echoServer(host = '127.0.0.1'): Promise<TcpServer> {
  return tcpServer((s) => s.pipe(s), host)
}

/**
 * Connects to a unix listener with half-close enabled. A full unix listen backlog answers EAGAIN
 * at once (TCP would queue the SYN); like any client, retry after a moment.
 */
export async function connectUnix(path: string): Promise<net.Socket> {
  for (;;) {
    try {
      return await connect(`unix:${path}`, { allowHalfOpen: true, timeoutMs: 10_000 })
    } catch (e) {
      if ((e as { code?: string }).code !== 'EAGAIN') throw e
      await new Promise((r) => setTimeout(r, 10))
    }
  }
}

/** Reads a socket to its end (or close). */
export function readAll(s: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    s.on('data', (c: Buffer) => chunks.push(c))
    s.once('end', () => resolve(Buffer.concat(chunks)))
    s.once('close', () => resolve(Buffer.concat(chunks)))
    s.once('error', reject)
  })
}

/**
 * Resolves when the other side has hung up: EOF (a half-open socket stays open after 'end', so
 * 'close' alone would never come), a reset, or close.
 */
export function closed(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.closed || s.readableEnded) return resolve()
    s.once('end', () => resolve())
    s.once('close', () => resolve())
    s.once('error', () => resolve())
    s.resume()
  })
}

export interface LogLine {
  level: number
  msg: string
  [k: string]: unknown
}

/** A pino logger keeping every line as parsed JSON, plus the raw text. */
export function captureLogger(): { logger: Logger; lines: LogLine[]; text: () => string; waitFor: (pred: (l: LogLine) => boolean) => Promise<LogLine> } {
  const lines: LogLine[] = []
  const raw: string[] = []
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = []
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString('utf8')
      raw.push(text)
      for (const part of text.split('\n')) {
        if (part.trim() === '') continue
        const line = JSON.parse(part) as LogLine
        lines.push(line)
        for (const w of [...waiters]) {
          if (w.pred(line)) {
            waiters.splice(waiters.indexOf(w), 1)
            w.resolve(line)
          }
        }
      }
      cb()
    },
  })
  const logger = createLogger('host-proxy', { level: 'debug', destination: dest })
  return {
    logger,
    lines,
    text: () => raw.join(''),
    waitFor: (pred) => {
      const hit = lines.find(pred)
      if (hit) return Promise.resolve(hit)
      return new Promise((resolve) => waiters.push({ pred, resolve }))
    },
  }
}

/** The close lines of a capture, by route. */
export function closeLines(lines: LogLine[], route?: string): LogLine[] {
  return lines.filter((l) => l.msg === 'connection closed' && (route === undefined || l.route === route))
}

/** Polls `pred` on the event loop (no wall-clock assertions: the test timeout is the only bound). */
export async function until(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise((r) => setTimeout(r, 5))
}
