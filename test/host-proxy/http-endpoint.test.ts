// The bounded HTTP server behind the credential and metrics endpoints: request deadlines hold
// even though node:http never listen()s itself (the sockets come from vsock-bridge).
import { afterEach, describe, expect, it } from 'vitest'
import * as net from 'node:net'
import { serveHttp } from '../../host-proxy/http-endpoint.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function open(handler: Parameters<typeof serveHttp>[1], requestTimeoutMs: number): Promise<number> {
  const ep = await serveHttp('tcp://127.0.0.1:0', handler, { requestTimeoutMs })
  cleanups.push(() => ep.close())
  return (ep.address as { port: number }).port
}

function dial(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s))
    s.once('error', reject)
    cleanups.push(() => void s.destroy())
  })
}

/** Reads until `text` has arrived in full on `s`. */
function readUntil(s: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = ''
    const onData = (c: Buffer): void => {
      got += c.toString()
      if (got.includes(text)) {
        s.off('data', onData)
        resolve(got)
      }
    }
    s.on('data', onData)
    s.once('close', () => reject(new Error(`closed after ${JSON.stringify(got)}`)))
  })
}

describe('http endpoint', () => {
  it('closes a client that drips its request headers (slowloris) once the request deadline passes', async () => {
    const timeout = 300
    const port = await open((_req, res) => res.end('ok'), timeout)
    const s = await dial(port)
    s.on('error', () => {})
    s.write('GET /metrics HTTP/1.1\r\nX-Slow: ')
    // One byte every third of the deadline resets any inactivity timer; only a request deadline
    // stops it. 30 bytes is ten deadlines: before the fix the socket was still open then.
    let dripped = 0
    while (!s.destroyed && !s.readableEnded && dripped < 30) {
      s.write('a')
      dripped++
      await sleep(timeout / 3)
    }
    expect(s.destroyed || s.readableEnded).toBe(true)
    expect(dripped).toBeLessThan(30)
  })

  it('keeps a keep-alive connection whose requests arrive in time, however long the answers take', async () => {
    const timeout = 200
    const port = await open((req, res) => {
      // A slow answer (IMDS being slow) is not the client's fault: no deadline while it is pending.
      setTimeout(() => res.end(`answer to ${req.url}`), timeout * 2)
    }, timeout)
    const s = await dial(port)
    s.write('GET /one HTTP/1.1\r\nHost: x\r\n\r\n')
    expect(await readUntil(s, 'answer to /one')).toMatch(/^HTTP\/1\.1 200/)
    await sleep(timeout / 4)
    s.write('GET /two HTTP/1.1\r\nHost: x\r\n\r\n')
    expect(await readUntil(s, 'answer to /two')).toMatch(/^HTTP\/1\.1 200/)
    expect(s.destroyed).toBe(false)
  })
})
