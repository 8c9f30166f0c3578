// relay() between two bridge sockets (the vsock code path on unix sockets): every byte arrives in
// order both ways, half-closes are forwarded, and nothing is left open afterwards.
import fc from 'fast-check'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { relay } from '../../vsock-bridge/index.js'
import { bytesUpTo, cutsUpTo, fdCount, nativeUnix, readAll, settle, writeSplit } from './util.js'

const dir = mkdtempSync(join(tmpdir(), 'vsock-bridge-relay-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('relay', () => {
  it('client <-> [relay] <-> server: random splits both ways, half-closes forwarded, no fds left', async () => {
    // The far server answers only after the client's half-close reached it through the relay.
    const far = nativeUnix(join(dir, 'far.sock'))
    let reply: Uint8Array = new Uint8Array()
    let replyCuts: number[] = []
    const farListener = await far.listen(
      (s) => {
        void readAll(s).then((got) => {
          s.write(Buffer.from(`${got.length}:`))
          writeSplit(s, reply, replyCuts)
        })
      },
      { allowHalfOpen: true },
    )
    const near = nativeUnix(join(dir, 'near.sock'))
    const stats: Promise<unknown>[] = []
    const nearListener = await near.listen(
      (inbound) => {
        stats.push(far.connect({ allowHalfOpen: true }).then((upstream) => relay(inbound, upstream)))
      },
      { allowHalfOpen: true },
    )
    await settle()
    const before = fdCount()
    let largest = 0
    await fc.assert(
      fc.asyncProperty(
        bytesUpTo(100_000),
        cutsUpTo(120_000, 12),
        bytesUpTo(100_000),
        cutsUpTo(120_000, 12),
        async (request, cuts, response, rcuts) => {
          largest = Math.max(largest, request.length, response.length)
          reply = response
          replyCuts = rcuts
          const c = await near.connect({ allowHalfOpen: true })
          const got = readAll(c)
          writeSplit(c, request, cuts)
          const all = await got
          const prefix = Buffer.from(`${request.length}:`)
          expect(all.subarray(0, prefix.length).equals(prefix)).toBe(true)
          expect(all.subarray(prefix.length).equals(Buffer.from(response))).toBe(true)
          await new Promise((r) => (c.closed ? r(undefined) : c.once('close', r)))
        },
      ),
      { numRuns: 40 },
    )
    // The runs really went past a socket buffer (fast-check's default size would stop at 10 bytes).
    expect(largest).toBeGreaterThan(50_000)
    const results = (await Promise.all(stats)) as { aToB: number; bToA: number; error: Error | undefined }[]
    expect(results.every((r) => r.error === undefined)).toBe(true)
    while (nearListener.connections > 0 || farListener.connections > 0) await settle(1)
    await settle()
    expect(fdCount()).toBe(before)
    await nearListener.close()
    await farListener.close()
  })
})
