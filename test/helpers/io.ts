// Runs a component's main in-process with captured stdout/stderr.
import { PassThrough, Readable } from 'node:stream'
import type { Io } from '../../common/cli.js'

export interface Captured {
  io: Io
  stdout: () => string
  stderr: () => string
}

export function captureIo(stdin: Buffer | string = ''): Captured {
  const out = new PassThrough()
  const err = new PassThrough()
  const o: Buffer[] = []
  const e: Buffer[] = []
  out.on('data', (c: Buffer) => o.push(c))
  err.on('data', (c: Buffer) => e.push(c))
  return {
    io: { stdout: out, stderr: err, stdin: Readable.from([Buffer.from(stdin)]) },
    stdout: () => Buffer.concat(o).toString('utf8'),
    stderr: () => Buffer.concat(e).toString('utf8'),
  }
}
