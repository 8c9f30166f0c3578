/**
 * The live certificate chain of a simulator: creates it, and before each document renews
 * whatever is about to expire (a renewed CA re-issues everything below it, as a new key has
 * to certify its children). Renewals are serialised so concurrent `attest` calls cannot race.
 * @module
 */
import { LEVELS, issue, needsRenewal, type CaLevel, type Identity, type Issued } from './ca.js'
import { NsmSimulatorStateError } from '../errors.js'

export type Chain = Record<CaLevel, Issued>

/** Creates a complete chain at `now`. */
export async function createChain(id: Identity, now: Date): Promise<Chain> {
  const out: Partial<Chain> = {}
  let parent: Issued | null = null
  for (const level of LEVELS) {
    parent = await issue(level, id, parent, now)
    out[level] = parent
  }
  return out as Chain
}

export class LiveChain {
  #chain: Chain
  #pending: Promise<void> = Promise.resolve()

  /** `onRenew` receives the re-issued levels (to persist them) before the chain is used. */
  constructor(
    chain: Chain,
    readonly identity: Identity,
    private readonly onRenew: (renewed: Issued[]) => Promise<void> = async () => {},
  ) {
    this.#chain = chain
  }

  get current(): Chain {
    return this.#chain
  }

  /** Renews what `now` requires and returns the chain to sign with. */
  fresh(now: Date): Promise<Chain> {
    const run = this.#pending.then(() => this.#renew(now))
    this.#pending = run.then(
      () => undefined,
      () => undefined,
    )
    return run
  }

  async #renew(now: Date): Promise<Chain> {
    const chain = this.#chain
    if (needsRenewal('root', chain.root.cert, now)) {
      throw new NsmSimulatorStateError(
        `the simulator's root certificate is not valid at ${now.toISOString()} (valid ${chain.root.cert.notBefore.toISOString()} .. ${chain.root.cert.notAfter.toISOString()}); initialise a new simulator directory`,
      )
    }
    const first = LEVELS.findIndex((l) => l !== 'root' && needsRenewal(l, chain[l].cert, now))
    if (first < 0) return chain
    const next: Chain = { ...chain }
    const renewed: Issued[] = []
    for (let i = first; i < LEVELS.length; i++) {
      const level = LEVELS[i]
      next[level] = await issue(level, this.identity, next[LEVELS[i - 1]], now)
      renewed.push(next[level])
    }
    await this.onRenew(renewed)
    this.#chain = next
    return next
  }
}
