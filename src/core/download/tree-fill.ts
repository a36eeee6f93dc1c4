import { type BigIntStats, lstatSync, readdirSync } from 'node:fs'
import { link, lstat, rename } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { P2PError } from '../errors.js'
import { identityOf } from '../file-identity.js'
import { printable } from '../printable.js'
import { breather, type MadeTable, YIELD_EVERY } from './made-table.js'
import { sameContent } from './same-content.js'
import { syncUserDir } from './tree-durable.js'

/** What the whole folder's manifest says the entry at a path below the root is (chosen by this download or not). */
export type FolderEntry =
  | { readonly dir: true }
  | { readonly dir: false; readonly size: number; readonly exec: boolean }

/** The whole folder's entries by their path below the tree's root (tree-local.ts localOf). */
export type FolderIndex = (local: string) => FolderEntry | undefined

/** The temporary tree as filling in needs it (tree-place.ts Placeable). */
interface Fillable {
  readonly root: string
  /** The mode the tree's directories have (what mkdir gives a directory here). */
  readonly dirMode: number
  readonly made: MadeTable
}

/**
 * A folder already at the final name that an earlier download of this same
 * folder left partial (`--only`), filled in with what this download chose
 * and it lacks, instead of a second copy at "NAME (1)".
 *
 * `existing` is taken as such only if it is a real directory of ours on the
 * temporary tree's filesystem in which every entry is one the whole manifest
 * lists, of its kind and size, in a mode this download could have given it
 * (modeFits), each file one link, and each entry this download chose holds
 * the bytes this download verified. A user's own folder of that name holds
 * something the manifest does not list, and is left alone (undefined: the
 * caller goes on to "NAME (1)").
 *
 * Nothing there is replaced or removed: a missing file is added by a hard
 * link to the verified one (which fails on anything at its path), a missing
 * directory with everything below it by a rename (which fails on anything
 * but an empty directory there). Something put there meanwhile stops the
 * filling with E_EXISTS, what was added staying (each entry verified); a run
 * again finishes it from the chunk store. Each directory that gained entries
 * is synced; the files were made durable before placing began.
 *
 * Paths are followed by name: a directory swapped for a link while this runs
 * would be followed, which takes our own user (every directory checked is
 * ours and writable by nobody else).
 */
export async function fillIn(
  tree: Fillable,
  existing: string,
  folder: FolderIndex,
  signal?: AbortSignal,
): Promise<number | undefined> {
  // The entries added (each below an added directory too), or undefined when `existing` is not a part of this folder.
  const present = await presentEntries(tree, existing, folder, signal)
  if (present === undefined) return undefined
  const { made } = tree
  const grown = new Set<string>()
  let added = 0
  let moves = 0
  for (let slot = 1; slot < made.count; slot++) {
    if (present[slot] === 1) continue
    added++
    // Below a missing directory an entry goes with it.
    if (present[made.parentSlot(slot)!] !== 1) continue
    if (moves % YIELD_EVERY === YIELD_EVERY - 1) await breather(signal)
    const local = made.local(slot)
    const to = join(existing, local)
    try {
      if (made.isDir(slot)) await rename(join(tree.root, local), to)
      else await link(join(tree.root, local), to)
      const st = await lstat(to, { bigint: true })
      if (!made.holds(slot, identityOf(st))) throw new Error('another entry has its name')
    } catch (err) {
      throw changedMeanwhile(existing, local, moves, err)
    }
    grown.add(dirname(to))
    moves++
  }
  for (const dir of grown) await syncUserDir(dir)
  return added
}

/**
 * Per slot of the temporary tree, 1 where `existing` holds that entry with
 * our bytes; undefined if `existing` is not a partial copy of this folder.
 * Every entry's kind, owner, mode, links and size first, then the bytes of
 * the chosen files found (a file can be large: a difference in metadata
 * answers first).
 */
async function presentEntries(
  tree: Fillable,
  existing: string,
  folder: FolderIndex,
  signal?: AbortSignal,
): Promise<Uint8Array | undefined> {
  const { made } = tree
  const uid = process.getuid?.()
  const device = (await lstat(tree.root, { bigint: true })).dev
  const ours = (st: { uid: bigint }) => uid === undefined || st.uid === BigInt(uid)
  const top = await lstat(existing, { bigint: true }).catch(() => undefined)
  if (top === undefined || !top.isDirectory() || top.dev !== device || !ours(top)) return undefined
  if (!modeFits(Number(top.mode & 0o7777n), tree.dirMode)) return undefined
  const present = new Uint8Array(made.count)
  present[0] = 1
  const toHash: number[] = []
  const dirs = ['']
  let seen = 0
  for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
    const names = quietly(() => readdirSync(join(existing, dir)))
    if (names === undefined) return undefined
    for (const name of names) {
      if (++seen % YIELD_EVERY === 0) await breather(signal)
      const local = dir === '' ? name : join(dir, name)
      const expected = folder(local)
      const st = quietly((): BigIntStats => lstatSync(join(existing, local), { bigint: true }))
      if (expected === undefined || st === undefined || !ours(st)) return undefined
      const mode = Number(st.mode & 0o7777n)
      if (expected.dir) {
        if (!st.isDirectory() || st.dev !== device || !modeFits(mode, tree.dirMode)) return undefined
        dirs.push(local)
      } else if (
        !st.isFile() ||
        st.nlink !== 1n ||
        st.size !== BigInt(expected.size) ||
        !modeFits(mode, expected.exec ? tree.dirMode : tree.dirMode & 0o666)
      )
        return undefined
      const slot = made.slotOf(local)
      if (slot === undefined) continue // not chosen this time: left as it is
      present[slot] = 1
      if (!expected.dir && expected.size > 0) toHash.push(slot)
    }
  }
  for (const [i, slot] of toHash.entries()) {
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await breather(signal)
    const check = made.check(slot)!
    const same = await sameContent(join(existing, made.local(slot)), check.size, check.sha256, {
      ours: true,
      oneLink: true,
      signal,
    })
    if (!same) return undefined
  }
  return present
}

/** Metadata calls by path, each microseconds (less than a round trip through libuv's pool); undefined on failure. */
function quietly<T>(call: () => T): T | undefined {
  try {
    return call()
  } catch {
    return undefined
  }
}

/**
 * Whether an entry's mode is one this download could own: no bit ours lacks
 * (setuid, sticky, group- or world-writable ones we would not give), and the
 * owner's bits exactly ours (an exec bit lost is another file). A copy made
 * under a stricter umask fits (an earlier run's 0600 where this one makes 0644).
 */
export function modeFits(have: number, ours: number): boolean {
  return (have & ~ours) === 0 && (have & 0o700) === (ours & 0o700)
}

function changedMeanwhile(existing: string, local: string, moves: number, err: unknown): P2PError {
  const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message
  return new P2PError(
    'E_EXISTS',
    `${printable(existing)} changed while this download filled it in (${printable(local)}: ${why}); ${moves} files or directories were added before it and nothing there was replaced: run the download again to add the rest`,
  )
}
