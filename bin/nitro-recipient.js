#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run by `npm ci` through `prepare`).
import { existsSync } from 'node:fs'

const entry = new URL('../dist/cli/main.js', import.meta.url)
if (!existsSync(entry)) {
  process.stderr.write('nitro-recipient: dist/ is missing; run `npm run build` (npm ci does it) first.\n')
  process.exit(3)
}
await import('reflect-metadata')
const { run } = await import(entry.href)
process.exitCode = await run(process.argv.slice(2))
