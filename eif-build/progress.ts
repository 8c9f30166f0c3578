/**
 * A one-line progress indicator for long work, drawn on stderr only when it is a TTY (so logs
 * and pipes stay clean), redrawn at most every 100 ms.
 * @module
 */

export interface Progress {
  update(done: number, total?: number): void
  end(): void
}

const NOOP: Progress = { update: () => {}, end: () => {} }

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`
}

/** Returns a no-op unless `stream` is a TTY. */
export function createProgress(stream: NodeJS.WritableStream, label: string): Progress {
  if ((stream as { isTTY?: boolean }).isTTY !== true) return NOOP
  let last = 0
  let drawn = false
  return {
    update(done, total) {
      const now = Date.now()
      if (now - last < 100) return
      last = now
      drawn = true
      if (total !== undefined && total > 0) {
        const frac = Math.min(1, done / total)
        const width = 30
        const fill = Math.round(frac * width)
        stream.write(`\r${label} [${'#'.repeat(fill)}${' '.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${mib(done)}`)
      } else {
        stream.write(`\r${label} ${mib(done)}`)
      }
    },
    end() {
      if (drawn) stream.write('\r\x1b[K')
    },
  }
}
