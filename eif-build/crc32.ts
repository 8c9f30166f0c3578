/**
 * CRC-32/ISO-HDLC (zlib's crc32), the EIF checksum. zlib.crc32 does the byte work; `crc32Combine`
 * (zlib's GF(2) matrix method) lets the streaming writer checksum pieces whose bytes are only
 * known later (the header, section headers patched after their data) without re-reading the file.
 * @module
 */
import { crc32 as zcrc32 } from 'node:zlib'

/** CRC-32 of `data`, continuing from `prev` (0 to start). */
export function crc32(data: Uint8Array, prev = 0): number {
  return zcrc32(data, prev) >>> 0
}

function gf2Times(mat: Uint32Array, vec: number): number {
  let sum = 0
  let i = 0
  while (vec !== 0) {
    if (vec & 1) sum ^= mat[i]
    vec >>>= 1
    i++
  }
  return sum >>> 0
}

function gf2Square(square: Uint32Array, mat: Uint32Array): void {
  for (let n = 0; n < 32; n++) square[n] = gf2Times(mat, mat[n])
}

/** CRC of `A || B` from `crcA = crc32(A)`, `crcB = crc32(B)` and `lenB = B.length`. */
export function crc32Combine(crcA: number, crcB: number, lenB: number): number {
  if (!Number.isSafeInteger(lenB) || lenB < 0) throw new TypeError('crc32Combine: lenB must be a safe non-negative integer')
  if (lenB === 0) return crcA >>> 0
  const even = new Uint32Array(32)
  const odd = new Uint32Array(32)
  odd[0] = 0xedb88320
  let row = 1
  for (let n = 1; n < 32; n++) {
    odd[n] = row
    row <<= 1
  }
  gf2Square(even, odd)
  gf2Square(odd, even)
  let crc = crcA >>> 0
  let len = lenB
  for (;;) {
    gf2Square(even, odd)
    if (len % 2 === 1) crc = gf2Times(even, crc)
    len = Math.floor(len / 2)
    if (len === 0) break
    gf2Square(odd, even)
    if (len % 2 === 1) crc = gf2Times(odd, crc)
    len = Math.floor(len / 2)
    if (len === 0) break
  }
  return (crc ^ crcB) >>> 0
}
