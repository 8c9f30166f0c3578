/**
 * Demo part 1: a real AWS Nitro attestation document, verified against the pinned AWS root.
 * @module
 */
import type { Io } from '../../common/cli.js'
import { summary } from '../../attestation/report.js'
import { sequence20250404 } from '../../attestation/samples.js'
import { decodeAttestationDocument, verifyAttestation } from '../../attestation/verify.js'

/** Verifies the bundled real document at its own timestamp and prints its summary. */
export async function verifyBundledDocument(io: Io): Promise<void> {
  const sample = sequence20250404()
  // The leaf certificate lived 3 hours in April 2025: verify at the time AWS signed the document.
  const at = new Date(decodeAttestationDocument(sample.document).timestamp)
  io.stdout.write(`Verifying the bundled attestation document '${sample.name}' (${sample.document.length} bytes)\n`)
  io.stdout.write(`at its own timestamp ${at.toISOString()}, against the embedded AWS Nitro Root-G1, requiring PCR0.\n\n`)
  const result = await verifyAttestation(sample.document, { at, expectedPcrs: { 0: sample.pcr0 } })
  io.stdout.write(summary(result))
  io.stdout.write('\nThe chain ends at the pinned AWS root, the ES384 signature covers the payload bytes as received,\n')
  io.stdout.write('and PCR0 matches the expected enclave image. Verified with today\'s clock it is rejected\n')
  io.stdout.write('(ERR_ATTESTATION_CERTIFICATE_EXPIRED): see `nitro-recipient attestation verify --help`.\n')
}
