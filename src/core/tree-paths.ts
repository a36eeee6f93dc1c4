import { nameProblem, portableName } from './names.js'
import { printable } from './printable.js'

/**
 * The rules for the relative paths inside a shared folder (a version-2
 * manifest, protocol.md §1): checked when `p2p-split` walks a directory and
 * again on every manifest that arrives from a peer, before anything touches
 * the disk.
 *
 * A path is `/`-separated, NFC, 1–4,096 UTF-8 bytes, and each component
 * follows the name rules of names.ts (no `\`, NUL, control characters, bidi
 * controls, `.` or `..`, 1–255 bytes, …) but for the store's `.p2p` prefix,
 * which only matters for an item's own name (a directory in the store's
 * root). So no absolute path, no empty component, no way up.
 *
 * Two entries of one directory must not be the same name on a
 * case-insensitive or normalisation-insensitive volume (macOS, Windows, ext4
 * casefold) once saved under their portable names: they would overwrite each
 * other there. The test is `collisionKey`: portableName, then a caseless
 * fold (below).
 */

/** Longest relative path in a tree, in UTF-8 bytes (Linux's PATH_MAX). */
export const MAX_PATH_BYTES = 4096

/** Problem with one path component, or undefined when it is fine. */
export function componentProblem(component: string): string | undefined {
  const problem = nameProblem(component)
  if (problem === undefined || !/^\.p2p/i.test(component)) return problem
  // Only the store-private prefix rule fired, or another one too: ask again with the prefix
  // defused (same byte length, so the length rule still applies).
  return nameProblem(`x${component.slice(1)}`)
}

/**
 * Problem with a relative path from a tree, or undefined when it is valid
 * (see above). `path` is untrusted: any value may come in.
 */
export function pathProblem(path: unknown): string | undefined {
  const outline = outlineProblem(path)
  if (outline !== undefined) return outline
  for (const component of (path as string).split('/')) {
    const problem = componentProblem(component) ?? nfcProblem(component)
    if (problem !== undefined) return inComponent(component, problem)
  }
  return undefined
}

/** What can be wrong with a path as a whole: not a string, empty, too long, absolute, an empty component. */
function outlineProblem(path: unknown): string | undefined {
  if (typeof path !== 'string') return 'a path must be a string'
  if (path.length === 0) return 'a path must not be empty'
  if (path.length > MAX_PATH_BYTES || Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES)
    return `a path must be at most ${MAX_PATH_BYTES} bytes in UTF-8`
  if (path.startsWith('/')) return 'a path must be relative (no leading "/")'
  if (path.endsWith('/') || path.includes('//'))
    return 'a path must not have an empty component ("//" or a trailing "/")'
  return undefined
}

function nfcProblem(component: string): string | undefined {
  return isAscii(component) || component === component.normalize('NFC')
    ? undefined
    : 'a path must be in Unicode NFC form'
}

function inComponent(component: string, problem: string): string {
  return problem.startsWith('a path')
    ? problem
    : `component "${printable(component, 60)}": ${problem.replace(/^a name/, 'it')}`
}

const ASCII = /^[\x00-\x7f]*$/

function isAscii(text: string): boolean {
  return ASCII.test(text)
}

/** The directory holding `path` ('' for the tree's root). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/')
  return slash < 0 ? '' : path.slice(0, slash)
}

/** The last component of `path`. */
export function baseOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/**
 * A caseless, normalisation-blind form of a string: NFD, then JavaScript's
 * full case mappings lower → upper → lower, then NFC. JavaScript has no
 * Unicode case folding (NFKC_Casefold); this round trip equates every pair
 * that case folding does that we know of, in particular all that NTFS (its
 * upcase table), APFS and ext4 casefold equate (`A`/`a`, `É` NFC/NFD,
 * `ẞ`/`ß`/`ss`, `K` (Kelvin)/`k`, `Σ`/`σ`/`ς`), and a few that some volumes
 * keep apart (`ı`/`i`, `ß`/`ss` on NTFS): those are refused too, as
 * refusing costs a rename where accepting costs a lost file.
 */
export function caseless(text: string): string {
  if (isAscii(text)) return text.toLowerCase() // the same, at a fraction of the cost
  return text.normalize('NFD').toLowerCase().toUpperCase().toLowerCase().normalize('NFC')
}

/**
 * What two sibling entries must not share: their local (portable) names,
 * folded, with every Default_Ignorable_Code_Point taken out first (U+200B,
 * U+00AD soft hyphen, U+FE0F, U+2060, …): `a\u200Bb` and `ab` look the
 * same, and some filesystems and tools drop such characters. Taken out of
 * the key rather than refused in names, so emoji sequences (`❤️`, ZWJ
 * families) stay valid names.
 */
export function collisionKey(component: string): string {
  return caseless(portableName(withoutIgnorables(component)))
}

const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu

/** `text` without its Default_Ignorable_Code_Point characters (the same string when it has none). */
function withoutIgnorables(text: string): string {
  return isAscii(text) ? text : text.replace(IGNORABLE, '')
}

/**
 * Order of two well-formed strings by their UTF-8 bytes, which is code point
 * order (UTF-16 code unit order differs: a surrogate pair, U+10000 and up,
 * sorts before U+E000–U+FFFF). Negative, zero or positive.
 */
export function compareUtf8(a: string, b: string): number {
  // Below U+D800 code unit order is code point order: the engine's own comparison, no loop here.
  if (!BEYOND_SURROGATES.test(a) && !BEYOND_SURROGATES.test(b)) return a < b ? -1 : a > b ? 1 : 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return codePointRank(x) - codePointRank(y)
  }
  return a.length - b.length
}

const BEYOND_SURROGATES = /[\ud800-\uffff]/

function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800
  if (unit >= 0xd800) return unit + 0x2000
  return unit
}

/**
 * The tree's shape checked one entry at a time, in manifest order: strictly
 * increasing paths (UTF-8 byte order: so no duplicate), each one's parent a
 * directory listed before it (directories are explicit, empty or not; a
 * path under a file has no such parent), and no two siblings with one
 * collisionKey. Its memory is about the paths' own length.
 */
export class TreeShape {
  private readonly dirs = new Set<string>([''])
  /** For each directory: the collision key of each entry in it → its path. */
  private readonly keys = new Map<string, Map<string, string>>()
  private last: string | undefined
  private count = 0

  constructor(private readonly maxEntries: number) {}

  /**
   * The problem with adding this entry next, or undefined after adding it.
   * Its path is checked here too (`path` is untrusted), but only its last
   * component: the ones before it are its parent directory, listed and
   * checked before it (and `/` composes with nothing, so a path of NFC
   * components is NFC). One path check per entry, not one per level.
   */
  add(path: unknown, isDir: boolean): string | undefined {
    if (++this.count > this.maxEntries) return `more than ${this.maxEntries} entries`
    const outline = outlineProblem(path)
    if (outline !== undefined) return outline
    const p = path as string
    const shown = (): string => `"${printable(p, 200)}"`
    const parent = parentOf(p)
    const base = baseOf(p)
    const problem = componentProblem(base) ?? nfcProblem(base)
    if (problem !== undefined) return inComponent(base, problem)
    // Not under a listed directory: say what is wrong with the path itself, if anything (`..`, …).
    if (!this.dirs.has(parent)) return pathProblem(p) ?? `${shown()} is not under a directory listed before it`
    if (this.last !== undefined && compareUtf8(this.last, p) >= 0) {
      return this.last === p
        ? `${shown()} is listed twice`
        : `${shown()} is out of order (entries are sorted by their UTF-8 bytes)`
    }
    this.last = p
    let siblings = this.keys.get(parent)
    if (siblings === undefined) {
      siblings = new Map()
      this.keys.set(parent, siblings)
    }
    const key = collisionKey(base)
    const other = siblings.get(key)
    if (other !== undefined)
      return `${shown()} and "${printable(other, 200)}" would be one file on case-insensitive or Windows volumes`
    siblings.set(key, p)
    if (isDir) this.dirs.add(p)
    return undefined
  }
}
