// Builds the optional native addons of binding.gyp (vsock: AF_VSOCK; nsm: the /dev/nsm ioctl) at install time.
//
// npm would run `node-gyp rebuild` by itself because binding.gyp exists, and a compile failure
// would then fail `npm ci`. The addons are optional (without them vsock addresses report
// ERR_VSOCK_UNAVAILABLE and the /dev/nsm client ERR_NSM_UNAVAILABLE), so this script builds them and only WARNS on failure, unless
// NITRO_RECIPIENT_REQUIRE_NATIVE=1 asks for a hard failure (CI on Linux).
//
// Offline by design: when Node's own headers are installed next to the node binary
// (<prefix>/include/node, as Debian and nodesource packages do) node-gyp is pointed at them with
// --nodedir, so it never downloads a header tarball.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const strict = process.env.NITRO_RECIPIENT_REQUIRE_NATIVE === '1'
const say = (line) => process.stderr.write(`nitro-recipient: ${line}\n`)

function giveUp(reason) {
  say(`native addons not built: ${reason}`)
  say('vsock:// addresses will fail with ERR_VSOCK_UNAVAILABLE; unix: and tcp:// addresses work.')
  say('/dev/nsm will fail with ERR_NSM_UNAVAILABLE; an NSM server (--nsm unix:/path) works.')
  say('To build later: install g++, make and python3, then run `npm rebuild` or `node scripts/build-native.mjs`.')
  process.exit(strict ? 1 : 0)
}

if (process.platform !== 'linux') giveUp(`AF_VSOCK and /dev/nsm exist only on Linux (this is ${process.platform})`)

// node-gyp ships with npm: npm exports its path to lifecycle scripts; otherwise find it beside npm.
function findNodeGyp() {
  const candidates = []
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp)
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'))
  const prefix = dirname(dirname(process.execPath))
  candidates.push(join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'))
  return candidates.find((p) => existsSync(p))
}

const nodeGyp = findNodeGyp()
if (nodeGyp === undefined) giveUp('node-gyp was not found (it ships with npm)')

const args = [nodeGyp, 'rebuild']
const prefix = dirname(dirname(process.execPath))
if (existsSync(join(prefix, 'include', 'node', 'node_api.h')) && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) {
  args.push(`--nodedir=${prefix}`)
}

const run = (cmd, argv) => spawnSync(cmd, argv, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], timeout: 10 * 60_000 })
const r = run(process.execPath, args)
if (r.error) giveUp(r.error.message)
if (r.status === 0) {
  say('native addons built (build/Release).')
  process.exit(0)
}

// One addon failing must not cost the others: build each target on its own (gyp's Makefile has
// one rule per target_name) and report which ones made it.
const targets = [...readFileSync(join(root, 'binding.gyp'), 'utf8').matchAll(/['"]target_name['"]\s*:\s*['"]([A-Za-z0-9_-]+)['"]/g)].map((m) => m[1])
if (!existsSync(join(root, 'build', 'Makefile')) || targets.length === 0) giveUp(`node-gyp exited with ${r.status ?? r.signal} (see the output above)`)
const built = targets.filter((t) => run('make', ['-C', 'build', 'BUILDTYPE=Release', t]).status === 0 && existsSync(join(root, 'build', 'Release', `${t}.node`)))
const failed = targets.filter((t) => !built.includes(t))
if (built.length === 0) giveUp(`node-gyp exited with ${r.status ?? r.signal} (see the output above)`)
say(`native addons built: ${built.join(', ')}; NOT built: ${failed.join(', ')} (see the output above).`)
process.exit(strict ? 1 : 0)
