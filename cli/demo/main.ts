/**
 * `nitro-recipient demo` (`npm run demo`): the main job on the embedded defaults. Part 1 verifies a
 * real AWS attestation document; part 2 runs the whole recipient flow locally.
 * @module
 */
import { EXIT_OK, EXIT_USAGE, type Io, type Main } from '../../common/cli.js'
import { verifyBundledDocument } from './real-document.js'
import { recipientFlow } from './recipient-flow.js'

const HELP = `Usage: nitro-recipient demo

1. Verifies the bundled real AWS Nitro attestation document (sequence-2025-04-04) against the
   embedded AWS Nitro Root-G1 at the document's own timestamp, and prints its summary.
2. Runs the attested-recipient flow on this machine, no AWS account needed: builds an enclave
   image (eif-build), boots the NSM simulator with its PCRs, pins them in a kms-local key policy,
   and has enclave-app fetch a secret and a data key through host-proxy with KMS Recipient
   envelopes, while the parent and an impostor enclave are refused.
`

/** Runs the demo, writing to `io`; returns 0 or throws. */
export async function runDemo(io: Io): Promise<number> {
  await verifyBundledDocument(io)
  await recipientFlow(io)
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
