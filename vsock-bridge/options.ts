/**
 * Option-bag checks shared by `connect` and `listen`: a misspelt or removed option is an error,
 * never silently ignored (`{ timeout: 500 }` would otherwise mean the 10 s default, and
 * `{ allowHalfopen: true }` a relay that drops half-closes).
 * @module
 */

/**
 * @internal Checks that `opts` is a plain object whose own keys are all in `known`, and that the
 * `booleans` among them are booleans when set.
 * @throws {TypeError} naming the first offending option.
 */
export function checkOptions(opts: unknown, what: string, known: readonly string[], booleans: readonly string[]): void {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new TypeError(`${what}: options must be an object`)
  for (const key of Object.keys(opts)) {
    if (!known.includes(key)) throw new TypeError(`${what}: unknown option ${JSON.stringify(key.slice(0, 40))} (known: ${known.join(', ')})`)
  }
  for (const key of booleans) {
    const v = (opts as Record<string, unknown>)[key]
    if (v !== undefined && typeof v !== 'boolean') throw new TypeError(`${what}: ${key} must be a boolean`)
  }
}
