/**
 * The one error base of the project. Every rejection of input or failed check is a subclass
 * with a stable `code` (jose's JOSEError style); argument misuse by a programmer is a plain
 * TypeError. The brand makes `instanceof` hold across two installed copies of the package
 * (undici's trick).
 * @module
 */

const BRAND = Symbol.for('nitro-recipient.error')

export class NitroError extends Error {
  /** Stable machine-readable code, e.g. `ERR_ATTESTATION_SIGNATURE`. */
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
    ;(this as unknown as Record<symbol, true>)[BRAND] = true
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this === NitroError) {
      return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true
    }
    return Function.prototype[Symbol.hasInstance].call(this, value)
  }
}

/** True when `e` is a NitroError carrying `code` (or any code when omitted). */
export function isNitroError(e: unknown, code?: string): e is NitroError {
  return e instanceof NitroError && (code === undefined || e.code === code)
}
