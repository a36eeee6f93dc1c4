import { type BigIntStats, type Dir, lstatSync, opendirSync } from 'node:fs'
import { join } from 'node:path'
import { type MadeTable, paced } from './made-table.js'

/** What the whole folder's manifest says the entry at a path below the root is (chosen by this download or not). */
export type FolderEntry =
  | { readonly dir: true }
  | { readonly dir: false; readonly size: number; readonly exec: boolean }

/** The whole folder's entries by their path below the tree's root (tree-local.ts localOf). */
export type FolderIndex = (local: string) => FolderEntry | undefined

/** What the walk needs of the temporary tree, and of the folder. */
export interface PartWalk {
  readonly made: MadeTable
  readonly dirMode: number
  readonly folder: FolderIndex
  /** The temporary tree's device: an entry on another filesystem (a mount inside) is not a part. */
  readonly device: bigint
  readonly signal?: AbortSignal
}

/**
 * Whether the folder whose entries `at(local)` reaches is a part of this one
 * (tree-fill.ts), by metadata: every entry one the whole manifest lists, of its
 * kind and size, ours, on the tree's filesystem, in a mode this download could
 * give it and writable by no one else, each file one link. Per slot of the
 * temporary tree, 1 where the entry is there; undefined at the first entry
 * that is not a part's. Each directory is read an entry at a time (a user's own
 * folder of a million names is refused at its first, not listed whole), the
 * event loop let run every 256 entries. The root's own checks are the caller's.
 */
export async function walkPart(at: (local: string) => string, o: PartWalk): Promise<Uint8Array | undefined> {
  const uid = process.getuid?.()
  const present = new Uint8Array(o.made.count)
  present[0] = 1
  const pace = paced(o.signal)
  const dirs = ['']
  for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
    let listing: Dir
    try {
      listing = opendirSync(at(dir))
    } catch {
      return undefined
    }
    try {
      for (let entry = listing.readSync(); entry !== null; entry = listing.readSync()) {
        await pace(0)
        const local = dir === '' ? entry.name : join(dir, entry.name)
        const expected = o.folder(local)
        const st = expected && quietly((): BigIntStats => lstatSync(at(local), { bigint: true }))
        if (expected === undefined || st === undefined || (uid !== undefined && st.uid !== BigInt(uid)))
          return undefined
        const mode = Number(st.mode & 0o7777n)
        if (expected.dir) {
          if (!st.isDirectory() || st.dev !== o.device || !dirFits(mode, o.dirMode)) return undefined
          dirs.push(local)
        } else if (
          !st.isFile() ||
          st.nlink !== 1n ||
          st.size !== BigInt(expected.size) ||
          !fileFits(mode, expected.exec ? o.dirMode : o.dirMode & 0o666)
        )
          return undefined
        const slot = o.made.slotOf(local)
        if (slot !== undefined) present[slot] = 1 // not chosen this time: left as it is
      }
    } finally {
      listing.closeSync()
    }
  }
  return present
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

/**
 * A directory a part may hold: as modeFits, the setgid bit a setgid downloads directory passes on allowed, and
 * writable by no one else whatever the umask (whoever may write into a directory may swap what is in it while
 * the download adds to it).
 */
export function dirFits(have: number, ours: number): boolean {
  return (have & 0o022) === 0 && modeFits(have & ~0o2000, ours)
}

function fileFits(have: number, ours: number): boolean {
  return (have & 0o022) === 0 && modeFits(have, ours)
}

/** A metadata call by path, microseconds (less than a round trip through libuv's pool); undefined on failure. */
function quietly<T>(call: () => T): T | undefined {
  try {
    return call()
  } catch {
    return undefined
  }
}
