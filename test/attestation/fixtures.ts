// The real documents in test/fixtures/attestation with the facts MANIFEST.md records for them.
import { readFileSync } from 'node:fs'

export interface Fixture {
  file: string
  kind: 'enclave' | 'nitrotpm'
  debug: boolean
  /** Document timestamp, ms. */
  timestamp: number
  /** Leaf certificate window (MANIFEST: "leaf cert validity"). */
  leafNotBefore: string
  leafNotAfter: string
  pcr0: string
  bytes: Uint8Array
}

const ZERO48 = '00'.repeat(48)
const DIR = new URL('../fixtures/attestation/', import.meta.url)

function f(file: string, kind: Fixture['kind'], timestamp: number, leafNotBefore: string, leafNotAfter: string, pcr0: string): Fixture {
  return { file, kind, debug: pcr0 === ZERO48, timestamp, leafNotBefore, leafNotAfter, pcr0, bytes: new Uint8Array(readFileSync(new URL(file, DIR))) }
}

export const VALID: Fixture[] = [
  f('evervault-beta-2022-10-13.cbor', 'enclave', 1665651482136, '2022-10-13T08:57:59Z', '2022-10-13T11:58:02Z', 'f4d48b81a460c9916d1e685119074bf24660afd3e34fae9fca0a0d28d9d5599936332687e6f66fc890ac8cf150142d8b'),
  f('evervault-debug-2022-10-12.cbor', 'enclave', 1665582606081, '2022-10-12T13:49:51Z', '2022-10-12T16:49:54Z', ZERO48),
  f('evervault-san-2023-01-18.cbor', 'enclave', 1674047239280, '2023-01-18T13:07:13Z', '2023-01-18T16:07:16Z', 'd265a83faa7b4fa0d73b82b6d06253e894445922937d0ee5a74fe4891da9817611a71e71b98e5329232902de3cf419af'),
  f('evervault-san-debug-2023-01-18.cbor', 'enclave', 1674054632312, '2023-01-18T15:10:27Z', '2023-01-18T18:10:30Z', ZERO48),
  f('evervault-ga-2023-09-18.cbor', 'enclave', 1695049410860, '2023-09-18T14:37:09Z', '2023-09-18T17:37:12Z', ZERO48),
  f('eternis-2024-09-09.cbor', 'enclave', 1725911352400, '2024-09-09T19:49:09Z', '2024-09-09T22:49:12Z', ZERO48),
  f('fastcrypto-2024-11-14.cbor', 'enclave', 1731627989450, '2024-11-14T21:24:26Z', '2024-11-15T00:24:29Z', ZERO48),
  f('sequence-2025-04-04.cbor', 'enclave', 1743791947519, '2025-04-04T16:38:29Z', '2025-04-04T19:38:32Z', '73934ebd95cac683b96ceb064acda3f0c73f2e11bebc702ed4aa271cd47a08973165df31fc138a204642d554ee2508ec'),
  f('fastcrypto-pcr16-indef-2025-11-10.cbor', 'enclave', 1762795210812, '2025-11-10T17:20:07Z', '2025-11-10T20:20:10Z', '3aa0e6e6ed7d8301655fced7e6ddcc443a3e57bf62f070caa6becf337069e859c0f03d68136440ff1cab8adefd20634c'),
  f('base-indef-2026-01-03.cbor', 'enclave', 1767472867402, '2026-01-03T20:40:25Z', '2026-01-03T23:40:28Z', '4b8d4cf2a99e05ce1b5bddaf9d21cb446eb0e606c5bebd1ebf02b473a22165f7b68b0bb0d1ac5a90f0311e493522cfab'),
  f('vaportpm-nitrotpm-2026-02-03.cbor', 'nitrotpm', 1770113522437, '2026-02-03T10:11:59Z', '2026-02-03T13:12:02Z', '6e901b16932f6e036747d7a57696e4a2cc864008ebc016826ca1d7bd42ab5ac8286ccf49cde6c0284cbc4b63d978a2ec'),
]

export const INVALID_BADSIG = new Uint8Array(readFileSync(new URL('INVALID-eternis-badsig-2024-07-23.cbor', DIR)))
export const INVALID_CORRUPT = new Uint8Array(readFileSync(new URL('INVALID-base-corrupt-cbor-2026-01-03.cbor', DIR)))
export const ROOT_PEM = readFileSync(new URL('aws-nitro-root-g1.pem', DIR), 'utf8')

export function fixture(file: string): Fixture {
  const x = VALID.find((v) => v.file === file)
  if (x === undefined) throw new Error(`no fixture ${file}`)
  return x
}
