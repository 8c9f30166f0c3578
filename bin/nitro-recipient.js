#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run by `npm ci` through `prepare`).
import { existsSync } from 'node:fs'

const entry = new URL('../dist/cli/main.js', import.meta.url)
if (!existsSync(entry)) {
  process.stderr.write('nitro-recipient: dist/ is missing; run `npm run build` (npm ci does it) first.\n')
  process.exit(3)
}
// The AWS SDK warns on every run that its 2027 releases will need Node 22; that is release
// planning for us, not news for a user of this CLI. Its own switch turns just that one off
// (the warning is a plain 'Warning' whose text names it, so a filter on its name missed it).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
const { run } = await import(entry.href)
process.exitCode = await run(process.argv.slice(2))
