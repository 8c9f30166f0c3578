/**
 * The metadata section (type 5): compact JSON in EifIdentityInfo's field order (image-format
 * `defs/mod.rs`), which nitro-cli's describe-eif prints back. It is not measured. `BuildTime`
 * follows `SOURCE_DATE_EPOCH` when set, so two builds can be byte-identical.
 * @module
 */
import { fail } from './errors.js'
import { openRegularFile } from './source.js'

export interface BuildMetadata {
  imageName: string
  imageVersion: string
  buildTime: string
  buildTool: string
  buildToolVersion: string
  operatingSystem: string
  kernelVersion: string
  dockerInfo: unknown
  customMetadata: unknown
}

/** RFC 3339 as chrono's `to_rfc3339` prints UTC: `2024-07-09T17:16:38.424+00:00`, fraction only when non-zero. */
export function rfc3339(d: Date): string {
  const iso = d.toISOString() // 2024-07-09T17:16:38.424Z
  const ms = d.getUTCMilliseconds()
  return `${iso.slice(0, 19)}${ms === 0 ? '' : iso.slice(19, 23)}+00:00`
}

const MAX_EPOCH = 253402300799

/** Build time: `SOURCE_DATE_EPOCH` (whole seconds) when given, else now. */
export function buildTime(sourceDateEpoch: string | undefined, now = new Date()): string {
  if (sourceDateEpoch === undefined || sourceDateEpoch === '') return rfc3339(now)
  // up to 9999-12-31T23:59:59Z: a five-digit year is no RFC 3339 date (toISOString gives "+033658-...")
  if (!/^[0-9]{1,12}$/.test(sourceDateEpoch) || Number(sourceDateEpoch) > MAX_EPOCH) fail('ERR_EIF_INPUT', `SOURCE_DATE_EPOCH must be an integer of seconds in 0..${MAX_EPOCH}`)
  return rfc3339(new Date(Number(sourceDateEpoch) * 1000))
}

/** Recursively sorts object keys (serde_json without preserve_order prints docker-inspect data so). */
export function sortKeys(v: unknown, depth = 0): unknown {
  if (depth > 64) fail('ERR_EIF_INPUT', 'JSON nested too deeply')
  if (Array.isArray(v)) return v.map((x) => sortKeys(x, depth + 1))
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k], depth + 1)
    return out
  }
  return v
}

/** Serialises the section exactly in nitro-cli's field order, compact. */
export function encodeMetadata(m: BuildMetadata): Buffer {
  const obj = {
    ImageName: m.imageName,
    ImageVersion: m.imageVersion,
    BuildMetadata: {
      BuildTime: m.buildTime,
      BuildTool: m.buildTool,
      BuildToolVersion: m.buildToolVersion,
      OperatingSystem: m.operatingSystem,
      KernelVersion: m.kernelVersion,
    },
    DockerInfo: m.dockerInfo ?? null,
    CustomMetadata: m.customMetadata ?? null,
  }
  return Buffer.from(JSON.stringify(obj), 'utf8')
}

/**
 * OS and kernel version from line 3 of `<kernel>.config` (`# Linux/x86_64 4.14.256-... Kernel
 * Configuration`), split on ' ', '/', '-': words 1 and 3, as nitro-cli does. Null without a config.
 */
export async function kernelInfo(kernelPath: string): Promise<{ os: string; version: string } | null> {
  let text: string
  try {
    // line 3 is in the first few hundred bytes; a config that is not a regular file is ignored
    const { fh } = await openRegularFile(`${kernelPath}.config`, 'kernel config')
    try {
      const b = Buffer.alloc(4096)
      const { bytesRead } = await fh.read(b, 0, b.length, 0)
      text = b.subarray(0, bytesRead).toString('utf8')
    } finally {
      await fh.close()
    }
  } catch {
    return null
  }
  const line = text.split('\n')[2]
  if (line === undefined) return null
  const words = line.split(/[ /-]/)
  if (words.length < 4) return null
  return { os: words[1], version: words[3] }
}
