/**
 * Boot PCRs from an Enclave Image File: the simulator then reports what a real NSM reports for an
 * enclave started from that file (PCR0/1/2, and PCR8 when the EIF is signed). eif-build verifies
 * the file (CRCs, signature) before measuring it. Loaded lazily so the simulator does not pull
 * in the EIF code unless asked.
 * @module
 */
import type { SettablePcr } from './store.js'

export async function pcrsFromEif(path: string): Promise<Partial<Record<SettablePcr, Uint8Array>>> {
  const { readEifMeasurements } = await import('../../eif-build/index.js')
  const m = await readEifMeasurements(path)
  const out: Partial<Record<SettablePcr, Uint8Array>> = { 0: m.pcr0, 1: m.pcr1, 2: m.pcr2 }
  if (m.pcr8 !== undefined) out[8] = m.pcr8
  return out
}
