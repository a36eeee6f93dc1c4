import { createRequire } from 'node:module'
import type Picomatch from 'picomatch'
import { Bitfield } from './bitfield.js'
import { P2PError } from './errors.js'
import { printable } from './printable.js'
import { TreeLayout } from './tree-layout.js'
import { isDir, type TreeManifest } from './tree-manifest.js'
import { parentOf } from './tree-paths.js'

/**
 * The part of a folder `p2p-download --only GLOB` asks for. Patterns are
 * globs (picomatch, the matcher fast-glob and micromatch use: `*` within one
 * directory, `**` across them, `?`, `[…]`, `{a,b}`; no extglobs; dot files
 * match like any other), read as .gitignore and rsync read theirs: one with
 * no `/` matches a name at any depth (`*.jpg` is every JPEG; a usability pass
 * found it took only the top level's), one with a `/` in it, or starting with
 * `/` or `./`, a path from the folder's top (`/*.jpg`, `raw/*.jpg`). A path is
 * chosen when any pattern matches it. A chosen directory brings everything
 * under it; every chosen entry brings the directories it sits in, and nothing
 * else is created. Patterns are taken in NFC (paths are), a trailing `/`
 * dropped (`docs/` is the directory `docs`). A pattern that matches nothing is
 * an error rather than a silently smaller download.
 */

export interface Selection {
  /** Whether each manifest entry is chosen (by index in `entries`). */
  readonly chosen: readonly boolean[]
  readonly files: number
  readonly dirs: number
  readonly bytes: number
  /** The global chunks of the chosen files: the only ones a download asks for. */
  readonly chunks: Bitfield
}

/** Longest pattern taken (picomatch's own default cap is 64 KiB). */
const MAX_PATTERN_BYTES = 4096
/**
 * Most `**` in one pattern, most repeats (`*`, `+`) in one of its components, and most time all patterns may
 * take over a folder's paths (checked between paths: one match cannot be stopped). A glob's regular expression
 * backtracks over a path's directories once per `**`, and over a component's bytes once per repeat in it:
 * three `**` (components `**`, `a`, `**`, `b`, `**`, `*.x`) took 1.3 s for one 2,000-level path and 45 s for a
 * chain of them; five `*` in one component 53 s over one 255-byte name, six minutes, deaf to Ctrl-C (attacker
 * passes). Two of each take milliseconds a path.
 */
const MAX_GLOBSTARS = 2
const MAX_REPEATS_PER_COMPONENT = 2
/**
 * Extglobs (`!(…)`, `@(a|aa)`, …) are refused, and more than MAX_BRACES brace groups: an alternation
 * backtracks once per way to split a name among its branches, exponentially (thirty `@(a|aa)` took 30 s over
 * 45 bytes, `!(b)!(c)!(d)!(e)!(f)x` 16 s over 200: the attack on the limits above). Twenty brace groups
 * take 50 ms.
 */
const EXTGLOB = /[!@?*+]\(/
const MAX_BRACES = 8
const MAX_SELECT_MS = 3000

export function selectEntries(
  manifest: TreeManifest,
  patterns: readonly string[],
  layout = new TreeLayout(manifest),
): Selection {
  if (patterns.length === 0) throw new P2PError('E_USAGE', '--only needs at least one pattern')
  const matchers = patterns.map((raw) => ({ raw, match: compile(raw), used: false }))
  const { entries } = manifest
  const chosen = new Array<boolean>(entries.length).fill(false)
  const chosenDirs = new Set<string>()
  const deadline = performance.now() + MAX_SELECT_MS
  // Parents come before what they hold (the manifest's order), so a directory's choice is known before its children.
  for (const [i, entry] of entries.entries()) {
    if (performance.now() > deadline)
      throw new P2PError(
        'E_USAGE',
        `--only takes more than ${MAX_SELECT_MS / 1000} s over ${printable(manifest.name)}'s paths: use simpler patterns`,
      )
    let hit = chosenDirs.has(parentOf(entry.path))
    for (const m of matchers) {
      if (m.match(entry.path)) {
        m.used = true
        hit = true
      }
    }
    if (!hit) continue
    chosen[i] = true
    if (isDir(entry)) chosenDirs.add(entry.path)
  }
  const unused = matchers.filter((m) => !m.used)
  if (unused.length > 0) {
    throw new P2PError(
      'E_NOT_FOUND',
      `--only ${unused.map((m) => `"${printable(m.raw, 200)}"`).join(', ')} matches nothing in ${printable(manifest.name)}`,
    )
  }
  // And the directories that hold what was chosen.
  const holders = new Set<string>()
  for (const [i, entry] of entries.entries()) {
    if (!chosen[i]) continue
    for (let dir = parentOf(entry.path); dir !== '' && !holders.has(dir); dir = parentOf(dir)) holders.add(dir)
  }
  const chunks = new Bitfield(layout.chunkCount)
  let files = 0
  let dirs = 0
  let bytes = 0
  let file = 0 // index among the file entries: the layout's numbering
  for (const [i, entry] of entries.entries()) {
    if (isDir(entry)) {
      if (holders.has(entry.path)) chosen[i] = true
      if (chosen[i]) dirs++
      continue
    }
    if (chosen[i]) {
      files++
      bytes += entry.size
      const first = layout.firstChunk(file)
      for (let j = 0; j < entry.chunks.length; j++) chunks.set(first + j)
    }
    file++
  }
  return { chosen, files, dirs, bytes, chunks }
}

const requireLazily = createRequire(import.meta.url)
/** Loaded at the first pattern: most downloads have none (loading it costs several ms of every start). */
let picomatch: typeof Picomatch | undefined

function compile(raw: string): (path: string) => boolean {
  if (raw.length === 0) throw new P2PError('E_USAGE', '--only needs a pattern, not an empty string')
  if (Buffer.byteLength(raw) > MAX_PATTERN_BYTES)
    throw new P2PError('E_USAGE', `--only pattern longer than ${MAX_PATTERN_BYTES} bytes`)
  const nfc = raw.normalize('NFC')
  const pattern = nfc.replace(/^(\.?\/)+/, '').replace(/\/+$/, '')
  // No `/` but at the end: a name at any depth; a leading `/` or `./` anchors it at the top.
  const anyDepth = !/^\.?\//.test(nfc) && !pattern.includes('/')
  if (pattern.length === 0) throw new P2PError('E_USAGE', `--only "${printable(raw, 200)}" names no path`)
  if ((pattern.match(/\*\*/g)?.length ?? 0) > MAX_GLOBSTARS)
    throw new P2PError('E_USAGE', `--only "${printable(raw, 200)}" has more than ${MAX_GLOBSTARS} "**"`)
  if (EXTGLOB.test(pattern))
    throw new P2PError('E_USAGE', `--only "${printable(raw, 200)}" uses an extglob (!(…), @(…), …): not supported`)
  if ((pattern.match(/\{/g)?.length ?? 0) > MAX_BRACES)
    throw new P2PError('E_USAGE', `--only "${printable(raw, 200)}" has more than ${MAX_BRACES} brace groups`)
  for (const component of pattern.split('/'))
    if (component !== '**' && (component.match(/[*+]/g)?.length ?? 0) > MAX_REPEATS_PER_COMPONENT)
      throw new P2PError(
        'E_USAGE',
        `--only "${printable(raw, 200)}" has more than ${MAX_REPEATS_PER_COMPONENT} "*" or "+" in one path component`,
      )
  picomatch ??= requireLazily('picomatch') as typeof Picomatch
  try {
    return picomatch(pattern, { dot: true, basename: anyDepth })
  } catch (err) {
    throw new P2PError('E_USAGE', `--only "${printable(raw, 200)}" is not a valid glob: ${(err as Error).message}`)
  }
}
