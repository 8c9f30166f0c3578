/**
 * `nitro-recipient demo` (`npm run demo`). For now: verify the bundled real attestation document
 * at its own timestamp and print what it proves. The full recipient flow will be added here.
 * @module
 */
import { EXIT_OK, EXIT_USAGE, type Io, type Main } from '../../common/cli.js'
import { summary } from '../../attestation/report.js'
import { sequence20250404 } from '../../attestation/samples.js'
import { decodeAttestationDocument, verifyAttestation } from '../../attestation/verify.js'

const HELP = `Usage: nitro-recipient demo

Verifies the bundled real AWS Nitro attestation document (sequence-2025-04-04) against the
embedded AWS Nitro Root-G1 at the document's own timestamp, and prints its summary.
`

/** Runs the demo, writing to `io`; returns the exit code (0, or throws an AttestationError). */
export async function runDemo(io: Io): Promise<number> {
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
  return EXIT_OK
}

export const main: Main = async (argv, io) => {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(HELP)
    return EXIT_OK
  }
  if (argv.length > 0) {
    io.stderr.write(`nitro-recipient demo: unexpected argument '${argv[0]}'\n${HELP}`)
    return EXIT_USAGE
  }
  return runDemo(io)
}
