// Every error code the verifier declares is asserted by at least one test in this folder, and
// every code a test asserts is declared (a renamed code cannot leave a test silently stale).
import { readFileSync, readdirSync } from 'node:fs'
import { expect, test } from 'vitest'
import { ATTESTATION_ERROR_CODES } from '../../attestation/index.js'

const dir = new URL('./', import.meta.url)
const sources = readdirSync(dir)
  .filter((f) => f.endsWith('.test.ts') && f !== 'codes.test.ts')
  .map((f) => readFileSync(new URL(f, dir), 'utf8'))
  .join('\n')

test('every declared code is asserted somewhere', () => {
  const missing = ATTESTATION_ERROR_CODES.filter((c) => !sources.includes(`'${c}'`))
  expect(missing).toEqual([])
})

test('every asserted ERR_ATTESTATION_ code is declared', () => {
  const used = new Set(sources.match(/ERR_ATTESTATION_[A-Z_]+/g))
  const declared = new Set<string>(ATTESTATION_ERROR_CODES)
  expect([...used].filter((c) => !declared.has(c))).toEqual([])
})
