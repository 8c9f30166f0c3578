/**
 * Typed errors of the EIF builder and reader. Every rejection of a file, archive or option is an
 * {@link EifError} whose `code` is one of {@link EifErrorCode}; callers switch on the code.
 * @module
 */
import { NitroError } from '../common/errors.js'

/** Every code an {@link EifError} can carry. */
export const EIF_ERROR_CODES = [
  /** The file is shorter than its header or sections say. */
  'ERR_EIF_TRUNCATED',
  /** The first 4 bytes are not `.eif`. */
  'ERR_EIF_MAGIC',
  /** Version outside 2..4, or a v4 file without a metadata section. */
  'ERR_EIF_VERSION',
  /** Header fields are inconsistent: section count, offsets, sizes, unused slots, flags. */
  'ERR_EIF_HEADER',
  /** A section header disagrees with the EIF header, has an unknown type or non-zero flags. */
  'ERR_EIF_SECTION',
  /** Sections are missing, duplicated, out of order, overlapping or leave bytes unaccounted for. */
  'ERR_EIF_LAYOUT',
  /** A section is larger than this implementation accepts. */
  'ERR_EIF_TOO_LARGE',
  /** The stored CRC-32 does not match the file. */
  'ERR_EIF_CRC_MISMATCH',
  /** The signature section is malformed (CBOR, COSE_Sign1 or certificate). */
  'ERR_EIF_SIGNATURE_MALFORMED',
  /** The signature does not verify, or does not sign this file's PCR0. */
  'ERR_EIF_SIGNATURE_INVALID',
  /** The metadata section is not the JSON object it must be. */
  'ERR_EIF_METADATA',
  /** Signing material is unusable: not an EC key on P-256/384/521, or not the certificate's key. */
  'ERR_EIF_SIGNING_KEY',
  /** A tar archive (docker save, layer) is malformed. */
  'ERR_EIF_TAR',
  /** A cpio archive is malformed. */
  'ERR_EIF_CPIO',
  /** A rootfs path is absolute, has `..`, a NUL, or is otherwise unsafe. */
  'ERR_EIF_ROOTFS_PATH',
  /** A symlink whose target climbs out of the rootfs. */
  'ERR_EIF_ROOTFS_SYMLINK',
  /** A hard link to something that is not a regular file of the tree. */
  'ERR_EIF_ROOTFS_HARDLINK',
  /** A device file, socket or other entry type a ramdisk may not carry. */
  'ERR_EIF_ROOTFS_FILE_TYPE',
  /** An image (docker save archive or OCI layout) is malformed or ambiguous. */
  'ERR_EIF_IMAGE',
  /** A layer media type this builder does not unpack (e.g. zstd). */
  'ERR_EIF_LAYER_MEDIA_TYPE',
  /** A blob's content does not match its digest. */
  'ERR_EIF_DIGEST_MISMATCH',
  /** An input (kernel, cmdline, init, cmd, env, option) is unusable. */
  'ERR_EIF_INPUT',
] as const

export type EifErrorCode = (typeof EIF_ERROR_CODES)[number]

/** The one error class of eif-build; `code` says what was wrong. */
export class EifError extends NitroError {
  declare readonly code: EifErrorCode
  constructor(code: EifErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}

/** Shorthand used by the parsers: `fail('ERR_EIF_HEADER', '...')`. */
export function fail(code: EifErrorCode, message: string): never {
  throw new EifError(code, message)
}
