import { createHash } from 'node:crypto'
import { z } from 'zod/v3'
import { DEFAULT_MAX_MANIFEST_BYTES, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from './constants.js'
import { P2PError } from './errors.js'
import { parseJsonUtf8 } from './json.js'
import { jsonValuesOver } from './json-bound.js'
import { isValidName } from './names.js'
import { describeIssue } from './schema-issue.js'

/**
 * The manifest describes one file. Its canonical form is UTF-8 JSON with no
 * whitespace, no trailing newline and the keys in exactly this order:
 *
 *   {"version":1,"name":"…","size":N,"chunkSize":N,"chunks":["<hex>",…],"sha256":"<hex>"}
 *
 * The file's id is the SHA-256 (lowercase hex) of those exact bytes, so a peer
 * that knows the id can check a manifest, and through it every chunk, came
 * unaltered. Only the canonical form is accepted from peers: one id, one byte
 * string.
 */
export interface Manifest {
  readonly version: 1
  readonly name: string
  readonly size: number
  readonly chunkSize: number
  readonly chunks: readonly string[]
  readonly sha256: string
}

export const HEX64 = /^[0-9a-f]{64}$/

export function isId(value: unknown): value is string {
  return typeof value === 'string' && HEX64.test(value)
}

/**
 * What is wrong with `text` as an id (in any case), and where, without quoting it (a link's may hold a secret):
 * its first character that is no hexadecimal digit, or its length; undefined for an id. A message that quoted the
 * first 12 characters looked the same for a mistyped id as for the right one (a UX audit).
 */
export function idProblem(text: string): string | undefined {
  const bad = text.search(/[^0-9a-f]/i)
  if (bad >= 0 && bad < 64) return `its character ${bad + 1} is not a hexadecimal digit (0-9, a-f)`
  if (text.length !== 64) return `it has ${text.length} ${bad < 0 ? 'hexadecimal digits' : 'characters'}, not 64`
  return undefined
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex')
}

export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize)
}

/** Length of chunk `index` in a file of `size` bytes. */
export function chunkLength(manifest: Pick<Manifest, 'size' | 'chunkSize'>, index: number): number {
  const start = index * manifest.chunkSize
  return Math.max(0, Math.min(manifest.chunkSize, manifest.size - start))
}

export function encodeManifest(manifest: Manifest): Buffer {
  const canonical = {
    version: 1,
    name: manifest.name,
    size: manifest.size,
    chunkSize: manifest.chunkSize,
    chunks: manifest.chunks,
    sha256: manifest.sha256,
  }
  return Buffer.from(JSON.stringify(canonical), 'utf8')
}

export function manifestId(bytes: Uint8Array): string {
  return sha256Hex(bytes)
}

const manifestSchema = z.strictObject({
  version: z.literal(1),
  name: z.string().refine(isValidName, 'not a valid file name'),
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  chunkSize: z.number().int().min(MIN_CHUNK_SIZE).max(MAX_CHUNK_SIZE),
  chunks: z.array(z.string().regex(HEX64)),
  sha256: z.string().regex(HEX64),
})

export interface ParseManifestOptions {
  /** When given, the bytes must hash to it (E_BAD_MANIFEST otherwise). */
  expectedId?: string
  maxBytes?: number
}

/** Validate untrusted manifest bytes: size cap, id, UTF-8 JSON, schema, chunk count, canonical form. */
export function parseManifest(bytes: Uint8Array, options: ParseManifestOptions = {}): Manifest {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MANIFEST_BYTES
  if (bytes.byteLength > maxBytes) {
    throw new P2PError('E_TOO_LARGE', `manifest of ${bytes.byteLength} bytes is over the ${maxBytes}-byte limit`)
  }
  if (options.expectedId !== undefined && manifestId(bytes) !== options.expectedId) {
    throw new P2PError(
      'E_BAD_MANIFEST',
      `manifest does not hash to id ${options.expectedId.slice(0, 12)}…: the peer sent the wrong file`,
    )
  }
  // One object holding one list of chunk hashes (67 bytes each), counted before JSON.parse builds anything.
  // Its longest string is its name: 255 bytes, twice that if every one were an escaped `"` or `\\`.
  const limits = { objects: 1, arrays: 1, commas: 5 + Math.ceil(bytes.byteLength / 67), stringBytes: 1024 }
  if (jsonValuesOver(bytes, limits) !== undefined)
    throw new P2PError('E_BAD_MANIFEST', 'manifest holds more values than a file manifest can')
  let json: unknown
  try {
    json = parseJsonUtf8(bytes)
  } catch {
    throw new P2PError('E_BAD_MANIFEST', 'manifest is not UTF-8 JSON')
  }
  const parsed = manifestSchema.safeParse(json)
  if (!parsed.success) {
    throw new P2PError('E_BAD_MANIFEST', `manifest field ${describeIssue(parsed.error)}`)
  }
  const manifest: Manifest = parsed.data
  if (manifest.chunks.length !== chunkCount(manifest.size, manifest.chunkSize)) {
    throw new P2PError(
      'E_BAD_MANIFEST',
      `manifest lists ${manifest.chunks.length} chunks, but size ${manifest.size} needs ${chunkCount(manifest.size, manifest.chunkSize)}`,
    )
  }
  if (!encodeManifest(manifest).equals(bytes)) {
    throw new P2PError('E_BAD_MANIFEST', 'manifest is not in canonical form (key order, whitespace or escapes differ)')
  }
  return manifest
}
