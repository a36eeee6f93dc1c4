import { z } from 'zod/v3'
import { DEFAULT_MAX_MANIFEST_BYTES, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from './constants.js'
import { P2PError } from './errors.js'
import { jsonValuesOver } from './json-bound.js'
import { chunkCount, HEX64, manifestId, sha256Hex } from './manifest.js'
import { isValidName } from './names.js'
import { describeIssue } from './schema-issue.js'
import { readCanonicalTree } from './tree-manifest-read.js'
import { TreeShape } from './tree-paths.js'

/**
 * The version-2 manifest: one shared folder (protocol.md §1). Canonical
 * UTF-8 JSON, no whitespace, keys in exactly this order, like version 1; the
 * item's id is the SHA-256 of these exact bytes:
 *
 *   {"version":2,"name":"<folder>","chunkSize":N,"entries":[
 *     {"path":"docs","type":"dir"},
 *     {"path":"docs/a.txt","size":N,"chunks":["<hex>",…],"sha256":"<hex>"},
 *     {"path":"run.sh","size":N,"chunks":[…],"sha256":"<hex>","exec":true}]}
 *
 * Entries are sorted by their paths' UTF-8 bytes; every directory is listed
 * (empty or not) before what it holds; paths follow tree-paths.ts. Each
 * file's chunks start at a fresh global chunk index (as BEP 52 aligns files
 * to pieces): file k's chunk j is global chunk `first(k) + j`, where
 * `first(k)` counts the chunks of the files before it. So one have-set,
 * rarest-first and resume work over the whole folder as over one file.
 * `exec` is present, and true, exactly when the file is executable; nothing
 * else of a file's mode travels. A file's `sha256` is its whole content's;
 * for a one-chunk file that is its chunk's hash, for an empty file the hash
 * of nothing, and a manifest that says otherwise is refused.
 */
export interface TreeFile {
  readonly path: string
  readonly size: number
  readonly chunks: readonly string[]
  readonly sha256: string
  readonly exec?: true
}

export interface TreeDir {
  readonly path: string
  readonly type: 'dir'
}

export type TreeEntry = TreeFile | TreeDir

export interface TreeManifest {
  readonly version: 2
  readonly name: string
  readonly chunkSize: number
  readonly entries: readonly TreeEntry[]
}

/** Entries a folder may hold (files and directories): p2p-split refuses more, a downloader refuses a manifest with more. */
export const DEFAULT_MAX_TREE_ENTRIES = 100_000

/**
 * The paths of a folder together, in UTF-8 bytes: what a tree's memory
 * (each path held by the manifest, the tree's shape check and the temporary
 * tree) grows with beside its entry count. 100,000 entries of 4,096-byte
 * paths would be 400 MB; 8 MiB is 84 bytes a path at 100,000 entries, and
 * a 4,096-byte path for 2,048 of them.
 */
export const MAX_TREE_PATH_BYTES = 8 * 1024 * 1024

export const EMPTY_SHA256 = sha256Hex(new Uint8Array(0))

export function isDir(entry: TreeEntry): entry is TreeDir {
  return 'type' in entry
}

export function encodeTreeManifest(manifest: TreeManifest): Buffer {
  return Buffer.from(`${manifestHead(manifest)}${manifest.entries.map(encodeEntry).join(',')}${MANIFEST_TAIL}`, 'utf8')
}

function manifestHead(manifest: TreeManifest): string {
  return `{"version":2,"name":${JSON.stringify(manifest.name)},"chunkSize":${JSON.stringify(manifest.chunkSize)},"entries":[`
}

const MANIFEST_TAIL = ']}'

function encodeEntry(e: TreeEntry): string {
  return JSON.stringify(
    isDir(e)
      ? { path: e.path, type: 'dir' }
      : { path: e.path, size: e.size, chunks: e.chunks, sha256: e.sha256, ...(e.exec === true ? { exec: true } : {}) },
  )
}

/**
 * Whether `bytes` are exactly `manifest`'s canonical encoding, compared one
 * entry at a time: re-encoding the whole manifest held two more copies of
 * it (a string and a buffer) at the peak of a download's memory.
 */
function isCanonical(manifest: TreeManifest, bytes: Uint8Array): boolean {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let at = 0
  const next = (text: string): boolean => {
    const piece = Buffer.from(text, 'utf8')
    if (at + piece.length > view.length || !view.subarray(at, at + piece.length).equals(piece)) return false
    at += piece.length
    return true
  }
  if (!next(manifestHead(manifest))) return false
  for (const [i, entry] of manifest.entries.entries())
    if ((i > 0 && !next(',')) || !next(encodeEntry(entry))) return false
  return next(MANIFEST_TAIL) && at === view.length
}

export interface ParseTreeManifestOptions {
  /** When given, the bytes must hash to it. */
  expectedId?: string
  maxBytes?: number
  maxEntries?: number
}

const topSchema = z.strictObject({
  version: z.literal(2),
  name: z.string().refine(isValidName, 'not a valid file name'),
  chunkSize: z.number().int().min(MIN_CHUNK_SIZE).max(MAX_CHUNK_SIZE),
  entries: z.array(z.unknown()),
})

/**
 * Validate untrusted version-2 manifest bytes: size cap, id, a bound on the
 * JSON values, then canonical form, UTF-8, fields, every path and the tree's
 * shape, chunk counts and sizes, read and checked entry by entry in one pass
 * (tree-manifest-read.ts: what is kept is the entries, nothing else). Bytes
 * it refuses are read again as JSON to name the fault. Everything a hostile
 * peer could send is refused here with E_BAD_MANIFEST (E_TOO_LARGE over the
 * byte cap), before any of it reaches a path.
 */
export function parseTreeManifest(bytes: Uint8Array, options: ParseTreeManifestOptions = {}): TreeManifest {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MANIFEST_BYTES
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_TREE_ENTRIES
  if (bytes.byteLength > maxBytes) {
    throw new P2PError('E_TOO_LARGE', `manifest of ${bytes.byteLength} bytes is over the ${maxBytes}-byte limit`)
  }
  if (options.expectedId !== undefined && manifestId(bytes) !== options.expectedId) {
    throw bad(`manifest does not hash to id ${options.expectedId.slice(0, 12)}…: the peer sent the wrong file`)
  }
  const tooMany = valueBoundProblem(bytes, maxEntries)
  if (tooMany !== undefined) throw bad(tooMany)
  // Read straight into the entries, checked one by one as they are read (the worst accepted folder's peak memory).
  const check = new TreeCheck(0, maxEntries)
  const read = readCanonicalTree(bytes, (entry, i) => check.add(entry, i) === undefined)
  if (read !== undefined) return { version: 2, name: read.name, chunkSize: read.chunkSize, entries: read.entries }
  // Refused: read again the slow way, which says why.
  readTreeManifestAsJson(bytes, maxEntries)
  throw bad('manifest is not in canonical form (key order, whitespace or escapes differ)')
}

/**
 * The same bytes read the slow way, as JSON, then the schema, each entry's
 * fields, the tree's rules, the canonical form: what names the fault in
 * bytes the canonical reader refused (it throws it), and the reference a
 * property test holds that reader to (both accept the same bytes, alike).
 */
export function readTreeManifestAsJson(bytes: Uint8Array, maxEntries = DEFAULT_MAX_TREE_ENTRIES): TreeManifest {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw bad('manifest is not UTF-8 JSON')
  }
  const top = topSchema.safeParse(json)
  if (!top.success) {
    throw bad(`manifest field ${describeIssue(top.error)}`)
  }
  const entries = top.data.entries.map((raw, i) => entryOf(raw, i, top.data.chunkSize))
  const manifest: TreeManifest = { version: 2, name: top.data.name, chunkSize: top.data.chunkSize, entries }
  const problem = treeProblem(manifest, maxEntries)
  if (problem !== undefined) throw bad(problem)
  if (!isCanonical(manifest, bytes)) {
    throw bad('manifest is not in canonical form (key order, whitespace or escapes differ)')
  }
  return manifest
}

/**
 * What is wrong with a folder's description, or undefined: every path, the
 * tree's shape (order, parents, collisions), entry count, chunk counts and
 * the hashes that must agree, the total size. The split checks what it
 * built with the same rules a receiver applies.
 */
export function treeProblem(manifest: TreeManifest, maxEntries = DEFAULT_MAX_TREE_ENTRIES): string | undefined {
  const check = new TreeCheck(manifest.chunkSize, maxEntries)
  for (const [i, entry] of manifest.entries.entries()) {
    const problem = check.add(entry, i)
    if (problem !== undefined) return problem
  }
  return undefined
}

/** treeProblem one entry at a time, in order (what the canonical reader checks each entry with as it reads it). */
class TreeCheck {
  private readonly shape: TreeShape
  private total = 0
  private pathBytes = 0

  /** `chunkSize` 0: the chunk counts were checked as the entries were read. */
  constructor(
    private readonly chunkSize: number,
    maxEntries: number,
  ) {
    this.shape = new TreeShape(maxEntries)
  }

  add(entry: TreeEntry, i: number): string | undefined {
    this.pathBytes += typeof entry.path === 'string' ? Buffer.byteLength(entry.path) : 0
    if (this.pathBytes > MAX_TREE_PATH_BYTES)
      return `entry ${i}: the paths add up to more than ${MAX_TREE_PATH_BYTES} bytes (a folder's limit)`
    const shapeIssue = this.shape.add(entry.path, isDir(entry))
    if (shapeIssue !== undefined) return `entry ${i}: ${shapeIssue}`
    if (isDir(entry)) return undefined
    const expected = this.chunkSize === 0 ? entry.chunks.length : chunkCount(entry.size, this.chunkSize)
    if (entry.chunks.length !== expected)
      return `entry ${i}: lists ${entry.chunks.length} chunks, but size ${entry.size} needs ${expected}`
    if (entry.size === 0 && entry.sha256 !== EMPTY_SHA256)
      return `entry ${i}: an empty file whose sha256 is not the hash of nothing`
    if (entry.chunks.length === 1 && entry.sha256 !== entry.chunks[0])
      return `entry ${i}: a one-chunk file whose sha256 is not its chunk's`
    this.total += entry.size
    if (this.total > Number.MAX_SAFE_INTEGER) return `the files add up to more than ${Number.MAX_SAFE_INTEGER} bytes`
    return undefined
  }
}

/** One entry's fields and types (its path and place in the tree are checked by treeProblem). */
function entryOf(raw: unknown, i: number, chunkSize: number): TreeEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(`entry ${i} is not an object`)
  const record = raw as Record<string, unknown>
  const keys = Object.keys(record)
  const path = record['path']
  if (typeof path !== 'string') throw bad(`entry ${i}: path is not a string`)
  if (Object.hasOwn(record, 'type')) {
    if (record['type'] !== 'dir' || keys.length !== 2)
      throw bad(`entry ${i}: a directory is exactly {"path","type":"dir"}`)
    return { path, type: 'dir' }
  }
  const { size, chunks, sha256, exec } = record
  const fileKeys = exec === undefined ? 4 : 5
  if (keys.length !== fileKeys || !['size', 'chunks', 'sha256'].every((key) => Object.hasOwn(record, key))) {
    throw bad(`entry ${i}: a file is exactly {"path","size","chunks","sha256"} and, when executable, "exec":true`)
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw bad(`entry ${i}: size is not an integer from 0 to 2^53 - 1`)
  if (!Array.isArray(chunks) || chunks.length !== chunkCount(size, chunkSize)) {
    throw bad(`entry ${i}: chunks is not a list of ${chunkCount(size, chunkSize)} hashes (size ${size})`)
  }
  if (!chunks.every(isHex64)) throw bad(`entry ${i}: a chunk hash is not 64 lowercase hex`)
  if (!isHex64(sha256)) throw bad(`entry ${i}: sha256 is not 64 lowercase hex`)
  if (exec !== undefined && exec !== true) throw bad(`entry ${i}: exec is true when present`)
  return { path, size, chunks: chunks as string[], sha256, ...(exec === true ? { exec: true } : {}) }
}

function isHex64(value: unknown): value is string {
  return typeof value === 'string' && HEX64.test(value)
}

function bad(message: string): P2PError {
  return new P2PError('E_BAD_MANIFEST', message)
}

/**
 * Refuse, before JSON.parse builds anything, bytes that would build more
 * values than a folder of `maxEntries` entries can need (json-bound.ts): at
 * most one object per entry (plus the top), one array per entry (its chunks)
 * plus the list of entries, and at most six values per entry besides the
 * chunk hashes, each of which takes 67 bytes. So 32 MiB of `[0,0,0,…]`, of
 * `[[[…]]]` or of a million tiny entries costs one pass over the bytes.
 */
/** A path's 4,096 bytes with every byte escaped as JSON.stringify escapes a valid one (`"` and `\\` only), and room. */
const MAX_STRING_BYTES = 16 * 1024

function valueBoundProblem(bytes: Uint8Array, maxEntries: number): string | undefined {
  const over = jsonValuesOver(bytes, {
    objects: maxEntries + 1,
    arrays: maxEntries + 1,
    commas: 6 * (maxEntries + 1) + Math.ceil(bytes.byteLength / 67),
    stringBytes: MAX_STRING_BYTES,
  })
  if (over === 'stringBytes') return `manifest holds a string longer than any name or path (${MAX_STRING_BYTES} bytes)`
  if (over === 'objects') return `manifest lists more than ${maxEntries} entries`
  return over === undefined ? undefined : `manifest holds more values than ${maxEntries} entries can`
}
