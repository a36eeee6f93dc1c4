import { isUtf8 } from 'node:buffer'
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from './constants.js'
import { chunkCount } from './manifest.js'
import { isValidName } from './names.js'

/**
 * Canonical version-2 manifest bytes (tree-manifest.ts) read straight into
 * their entries, in one pass: no JSON value tree, no decoded copy of the
 * whole text, no second copy of each entry and no re-encoding to compare.
 * Canonical means exactly what JSON.stringify writes, in the key order of
 * the spec, so the grammar is fixed:
 *
 *   {"version":2,"name":S,"chunkSize":N,"entries":[E,…]}
 *   E = {"path":S,"type":"dir"} | {"path":S,"size":N,"chunks":[H,…],"sha256":H} (+ ,"exec":true)
 *
 * S a JSON string as JSON.stringify writes it, N a non-negative safe
 * integer's digits, H 64 lowercase hex digits in quotes. Each entry is handed
 * to `onEntry` (its place in the tree, its hashes) as soon as it is read,
 * so nothing of an entry is kept that a later check would refuse. Returns
 * undefined for anything that is not such bytes, or that `onEntry`
 * refuses: the caller then says what is wrong (tree-manifest.ts reads the
 * bytes the slow way to name it). What it keeps is what the caller keeps.
 */

export interface ReadDir {
  path: string
  type: 'dir'
}

export interface ReadFile {
  path: string
  size: number
  chunks: string[]
  sha256: string
  exec?: true
}

export interface ReadTree {
  name: string
  chunkSize: number
  entries: Array<ReadDir | ReadFile>
}

/** Checks one entry in order (false: refused). */
export type EntryCheck = (entry: ReadDir | ReadFile, index: number) => boolean

const QUOTE = 0x22
const BACKSLASH = 0x5c
const ascii = (text: string): Buffer => Buffer.from(text, 'latin1')
const HEAD_VERSION = ascii('{"version":2,"name":')
const CHUNK_SIZE_KEY = ascii(',"chunkSize":')
const ENTRIES_KEY = ascii(',"entries":[')
const PATH_KEY = ascii('{"path":')
const DIR_TAIL = ascii(',"type":"dir"}')
const SIZE_KEY = ascii(',"size":')
const CHUNKS_KEY = ascii(',"chunks":[')
const SHA_KEY = ascii(',"sha256":')
const EXEC_TAIL = ascii(',"exec":true}')

class Reader {
  at = 0
  constructor(readonly b: Buffer) {}

  /** The bytes `expected` come next (consumed), or false. */
  take(expected: Buffer): boolean {
    if (this.at + expected.length > this.b.length) return false
    for (let i = 0; i < expected.length; i++) if (this.b[this.at + i] !== expected[i]) return false
    this.at += expected.length
    return true
  }

  byte(value: number): boolean {
    if (this.b[this.at] !== value) return false
    this.at++
    return true
  }

  /** A canonical JSON string (JSON.stringify's escapes only), or undefined. */
  string(): string | undefined {
    if (!this.byte(QUOTE)) return undefined
    const start = this.at
    let escaped = false
    for (; this.at < this.b.length; this.at++) {
      const c = this.b[this.at]!
      if (c === QUOTE) break
      if (c < 0x20) return undefined // raw control characters are never canonical
      if (c === BACKSLASH) {
        escaped = true
        this.at++
      }
    }
    if (this.at >= this.b.length) return undefined
    const body = this.b.subarray(start, this.at)
    this.at++
    if (!isUtf8(body)) return undefined
    if (!escaped) return body.toString('utf8')
    // Rare (a name holding `"`, `\` or a control character): decode, and keep only JSON.stringify's own escapes.
    const text = `"${body.toString('utf8')}"`
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      return undefined
    }
    return typeof value === 'string' && JSON.stringify(value) === text ? value : undefined
  }

  /** A non-negative safe integer in canonical digits, or undefined. */
  integer(): number | undefined {
    const start = this.at
    while (this.at < this.b.length && this.b[this.at]! >= 0x30 && this.b[this.at]! <= 0x39) this.at++
    const digits = this.at - start
    if (digits === 0 || digits > 16 || (digits > 1 && this.b[start] === 0x30)) return undefined
    const value = Number(this.b.toString('latin1', start, this.at))
    return Number.isSafeInteger(value) ? value : undefined
  }

  /** A quoted SHA-256 in lowercase hex, or undefined. */
  hex64(): string | undefined {
    if (this.at + 66 > this.b.length || this.b[this.at] !== QUOTE || this.b[this.at + 65] !== QUOTE) return undefined
    for (let i = this.at + 1; i <= this.at + 64; i++) {
      const c = this.b[i]!
      if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return undefined
    }
    const hex = this.b.toString('latin1', this.at + 1, this.at + 65)
    this.at += 66
    return hex
  }
}

/** `bytes` read as a canonical folder manifest whose every entry `check` accepts, or undefined. */
export function readCanonicalTree(bytes: Uint8Array, check: EntryCheck): ReadTree | undefined {
  const r = new Reader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
  if (!r.take(HEAD_VERSION)) return undefined
  const name = r.string()
  if (name === undefined || !isValidName(name) || !r.take(CHUNK_SIZE_KEY)) return undefined
  const chunkSize = r.integer()
  if (chunkSize === undefined || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) return undefined
  if (!r.take(ENTRIES_KEY)) return undefined
  const entries: Array<ReadDir | ReadFile> = []
  if (!r.byte(0x5d /* ] */)) {
    do {
      const entry = readEntry(r, chunkSize)
      if (entry === undefined || !check(entry, entries.length)) return undefined
      entries.push(entry)
    } while (r.byte(0x2c /* , */))
    if (!r.byte(0x5d)) return undefined
  }
  if (!r.byte(0x7d /* } */) || r.at !== r.b.length) return undefined
  return { name, chunkSize, entries }
}

function readEntry(r: Reader, chunkSize: number): ReadDir | ReadFile | undefined {
  if (!r.take(PATH_KEY)) return undefined
  const path = r.string()
  if (path === undefined) return undefined
  if (r.take(DIR_TAIL)) return { path, type: 'dir' }
  if (!r.take(SIZE_KEY)) return undefined
  const size = r.integer()
  if (size === undefined || !r.take(CHUNKS_KEY)) return undefined
  const count = chunkCount(size, chunkSize)
  const chunks: string[] = []
  if (!r.byte(0x5d)) {
    do {
      const hash = chunks.length < count ? r.hex64() : undefined
      if (hash === undefined) return undefined
      chunks.push(hash)
    } while (r.byte(0x2c))
    if (!r.byte(0x5d)) return undefined
  }
  if (chunks.length !== count || !r.take(SHA_KEY)) return undefined
  let sha256 = r.hex64()
  if (sha256 === undefined) return undefined
  if (count === 1 && sha256 === chunks[0]) sha256 = chunks[0] // one string for both (as a one-chunk file must have)
  if (r.byte(0x7d)) return { path, size, chunks, sha256 }
  return r.take(EXEC_TAIL) ? { path, size, chunks, sha256, exec: true } : undefined
}
