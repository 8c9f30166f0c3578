/**
 * The EIF container layout (aws-nitro-enclaves-image-format `src/defs/mod.rs`): a 548-byte
 * big-endian header, then sections, each a 12-byte header followed by its data, with no padding.
 * Pure codecs; no I/O.
 * @module
 */
import { fail } from './errors.js'

export const EIF_MAGIC = Buffer.from('.eif', 'latin1')
/** The version EifBuilder writes (4: metadata section mandatory). */
export const EIF_VERSION = 4
export const EIF_HEADER_SIZE = 548
export const SECTION_HEADER_SIZE = 12
export const MAX_SECTIONS = 32
/** Offset of the CRC field; the CRC covers every byte of the file except these 4. */
export const CRC_OFFSET = 544
/** Header flag bit 0: the kernel is aarch64. */
export const FLAG_ARM64 = 1
/** Written as nitro-cli writes them; nothing reads them. */
export const DEFAULT_MEM = 1n << 30n
export const DEFAULT_CPUS = 2n

export const SectionType = {
  Kernel: 1,
  Cmdline: 2,
  Ramdisk: 3,
  Signature: 4,
  Metadata: 5,
} as const
export type SectionType = (typeof SectionType)[keyof typeof SectionType]

const SECTION_NAMES: Record<number, string> = { 1: 'kernel', 2: 'cmdline', 3: 'ramdisk', 4: 'signature', 5: 'metadata' }

/** Human name of a section type, for messages. */
export function sectionName(t: number): string {
  return SECTION_NAMES[t] ?? `type ${t}`
}

export interface EifHeader {
  version: number
  flags: number
  defaultMem: bigint
  defaultCpus: bigint
  numSections: number
  /** File offsets of each section's header, `numSections` long. */
  sectionOffsets: bigint[]
  /** Data sizes of each section, `numSections` long. */
  sectionSizes: bigint[]
  unused: number
  crc32: number
}

/** Serialises a header (all integers big-endian); `crc32` is written as given. */
export function encodeHeader(h: EifHeader): Buffer {
  if (h.numSections > MAX_SECTIONS || h.sectionOffsets.length !== h.numSections || h.sectionSizes.length !== h.numSections) {
    throw new TypeError('encodeHeader: section arrays must have numSections (<= 32) entries')
  }
  const b = Buffer.alloc(EIF_HEADER_SIZE)
  EIF_MAGIC.copy(b, 0)
  b.writeUInt16BE(h.version, 4)
  b.writeUInt16BE(h.flags, 6)
  b.writeBigUInt64BE(h.defaultMem, 8)
  b.writeBigUInt64BE(h.defaultCpus, 16)
  b.writeUInt16BE(0, 24)
  b.writeUInt16BE(h.numSections, 26)
  for (let i = 0; i < h.numSections; i++) {
    b.writeBigUInt64BE(h.sectionOffsets[i], 28 + 8 * i)
    b.writeBigUInt64BE(h.sectionSizes[i], 28 + 8 * MAX_SECTIONS + 8 * i)
  }
  b.writeUInt32BE(h.unused, 540)
  b.writeUInt32BE(h.crc32 >>> 0, CRC_OFFSET)
  return b
}

/**
 * Parses and structurally checks a header: magic, version 2..4, section count 1..32, unused
 * slots zero, reserved field zero. Offsets and sizes are checked against the file by the reader.
 */
export function decodeHeader(b: Uint8Array): EifHeader {
  if (b.length < EIF_HEADER_SIZE) fail('ERR_EIF_TRUNCATED', `header needs ${EIF_HEADER_SIZE} bytes, file has ${b.length}`)
  const v = Buffer.from(b.buffer, b.byteOffset, EIF_HEADER_SIZE)
  if (!v.subarray(0, 4).equals(EIF_MAGIC)) fail('ERR_EIF_MAGIC', 'not an EIF: magic is not ".eif"')
  const version = v.readUInt16BE(4)
  if (version < 2 || version > EIF_VERSION) fail('ERR_EIF_VERSION', `unsupported EIF version ${version} (2..4 are defined)`)
  const flags = v.readUInt16BE(6)
  if ((flags & ~FLAG_ARM64) !== 0) fail('ERR_EIF_HEADER', `reserved header flag bits set: 0x${flags.toString(16)}`)
  if (v.readUInt16BE(24) !== 0) fail('ERR_EIF_HEADER', 'reserved header field is not zero')
  const numSections = v.readUInt16BE(26)
  if (numSections < 1 || numSections > MAX_SECTIONS) fail('ERR_EIF_HEADER', `section count ${numSections} outside 1..${MAX_SECTIONS}`)
  const sectionOffsets: bigint[] = []
  const sectionSizes: bigint[] = []
  for (let i = 0; i < MAX_SECTIONS; i++) {
    const off = v.readBigUInt64BE(28 + 8 * i)
    const size = v.readBigUInt64BE(28 + 8 * MAX_SECTIONS + 8 * i)
    if (i < numSections) {
      sectionOffsets.push(off)
      sectionSizes.push(size)
    } else if (off !== 0n || size !== 0n) {
      fail('ERR_EIF_HEADER', `unused section slot ${i} is not zero`)
    }
  }
  return {
    version,
    flags,
    defaultMem: v.readBigUInt64BE(8),
    defaultCpus: v.readBigUInt64BE(16),
    numSections,
    sectionOffsets,
    sectionSizes,
    unused: v.readUInt32BE(540),
    crc32: v.readUInt32BE(CRC_OFFSET),
  }
}

export interface SectionHeader {
  type: number
  flags: number
  size: bigint
}

export function encodeSectionHeader(type: SectionType, size: bigint | number): Buffer {
  const b = Buffer.alloc(SECTION_HEADER_SIZE)
  b.writeUInt16BE(type, 0)
  b.writeUInt16BE(0, 2)
  b.writeBigUInt64BE(BigInt(size), 4)
  return b
}

/** Parses a section header; unknown types (0, >5) and non-zero flags are rejected. */
export function decodeSectionHeader(b: Uint8Array, where: string): SectionHeader {
  if (b.length < SECTION_HEADER_SIZE) fail('ERR_EIF_TRUNCATED', `${where}: section header truncated`)
  const v = Buffer.from(b.buffer, b.byteOffset, SECTION_HEADER_SIZE)
  const type = v.readUInt16BE(0)
  if (!(type in SECTION_NAMES)) fail('ERR_EIF_SECTION', `${where}: unknown section type ${type}`)
  const flags = v.readUInt16BE(2)
  if (flags !== 0) fail('ERR_EIF_SECTION', `${where}: section flags 0x${flags.toString(16)} are reserved`)
  return { type, flags, size: v.readBigUInt64BE(4) }
}
