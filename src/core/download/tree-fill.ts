import { type BigIntStats, closeSync, fstatSync, lstatSync, openSync } from 'node:fs'
import { link, lstat, readdir, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { OPEN_DIR, resolvesThroughFd, throughFd } from '../dir-fd.js'
import { P2PError } from '../errors.js'
import { identityOf } from '../file-identity.js'
import { printable } from '../printable.js'
import { type MadeTable, paced } from './made-table.js'
import { sameContent } from './same-content.js'
import { syncUserDir } from './tree-durable.js'
import { dirFits, type FolderIndex, walkPart } from './tree-part-walk.js'
import { isPlaced, type Placed } from './tree-placed.js'

export type { FolderEntry, FolderIndex } from './tree-part-walk.js'

/** The temporary tree as filling in needs it (tree-place.ts Placeable). */
export interface Fillable {
  readonly root: string
  /** The mode the tree's directories have (what mkdir gives a directory here). */
  readonly dirMode: number
  readonly made: MadeTable
}

/**
 * The folder an earlier download of this same item placed (at the final name,
 * or at "NAME (n)" where that was taken), left partial by `--only`, filled in
 * with what this download chose and it lacks, instead of a second copy.
 *
 * Only the very directory this item's downloads placed last (its device, inode
 * and birth time, recorded in the store entry: tree-placed.ts), still a real
 * directory of ours on the temporary tree's filesystem, writable by no one
 * else, in which every entry is one the manifest lists, of its kind and size,
 * ours, writable by no one else, each file one link, and each chosen file the
 * verified bytes (tree-part-walk.ts). A user's own folder of that name, or one
 * a download of another item placed, is left alone (undefined: the caller
 * goes on to the next name).
 *
 * Both trees are reached through descriptors opened once and checked
 * (`/proc/self/fd/N/…`, Linux; elsewhere no folder is filled in): a temporary
 * tree or folder renamed away and replaced meanwhile (by whoever may write to
 * the downloads directory) is not the one written from or into. Each missing
 * file is added by a hard link to the verified one (which never replaces
 * anything), each missing directory with everything below it by a rename
 * (which replaces nothing but an empty directory made there meanwhile), each
 * checked after to be the entry the tree made. Something put at a missing
 * entry's path meanwhile stops it with E_EXISTS, what was added staying (each
 * entry verified). The directories that gained entries are synced; the files
 * were made durable before placing began.
 */
export async function fillIn(
  tree: Fillable,
  existing: string,
  part: { folder: FolderIndex; placed: Placed | undefined },
  signal?: AbortSignal,
): Promise<number | undefined> {
  const { folder, placed } = part
  if (placed === undefined) return undefined
  const into = openChecked(existing, (st) => isPlaced(st, placed))
  if (into === undefined) return undefined
  const from = openChecked(tree.root, (st) => tree.made.holds(0, identityOf(st)))
  let begun = false
  try {
    if (from === undefined || !resolvesThroughFd(from) || !resolvesThroughFd(into)) return undefined
    const source = (local: string) => join(throughFd(from), local)
    const device = fstatSync(from, { bigint: true }).dev
    const top = fstatSync(into, { bigint: true })
    const uid = process.getuid?.()
    if (top.dev !== device || (uid !== undefined && top.uid !== BigInt(uid))) return undefined
    if (!dirFits(Number(top.mode & 0o7777n), tree.dirMode)) return undefined
    const target = (local: string) => join(throughFd(into), local)
    const present = await walkPart(target, { made: tree.made, dirMode: tree.dirMode, folder, device, signal })
    if (present === undefined || !(await chosenHaveOurBytes(tree.made, present, target, signal))) return undefined
    begun = true
    const added = await addMissing(tree.made, present, { source, target, shown: existing, signal })
    // As placing's own check: what has the name now must be the folder filled in.
    const now = await lstat(existing, { bigint: true }).catch(() => undefined)
    if (now === undefined || !isPlaced(now, placed))
      throw new P2PError(
        'E_IO',
        `${printable(existing)} was replaced while the download filled it in: ${filled(added)} in the folder that had the name`,
      )
    return added
  } finally {
    // Through its descriptor: a temporary tree renamed away meanwhile is emptied all the same (its files were
    // left with a second link, and every later check of the folder refused it: attacker pass).
    if (begun && from !== undefined) await emptyDirectory(throughFd(from))
    if (from !== undefined) closeSync(from)
    closeSync(into)
  }
}

/** A directory opened without following a link, kept open only if `ours` takes its stats. */
function openChecked(path: string, ours: (st: BigIntStats) => boolean): number | undefined {
  let fd: number
  try {
    fd = openSync(path, OPEN_DIR)
  } catch {
    return undefined
  }
  if (ours(fstatSync(fd, { bigint: true }))) return fd
  closeSync(fd)
  return undefined
}

/** Everything in the directory at `path` removed (best effort: the caller removes the directory itself). */
async function emptyDirectory(path: string): Promise<void> {
  const names = await readdir(path).catch((): string[] => [])
  for (const name of names) await rm(join(path, name), { recursive: true, force: true }).catch(() => undefined)
}

/** Whether each chosen file found there (`present`) has the bytes this download verified. */
async function chosenHaveOurBytes(
  made: MadeTable,
  present: Uint8Array,
  target: (local: string) => string,
  signal?: AbortSignal,
): Promise<boolean> {
  const pace = paced(signal)
  for (let slot = 1; slot < made.count; slot++) {
    const check = made.check(slot)
    if (present[slot] !== 1 || check === undefined || check.size === 0) continue
    await pace(check.size)
    const same = await sameContent(target(made.local(slot)), check.size, check.sha256, {
      ours: true,
      oneLink: true,
      signal,
    })
    if (!same) return false
  }
  return true
}

/** Each chosen entry `present` lacks added (below a missing directory an entry goes with it): how many. */
async function addMissing(
  made: MadeTable,
  present: Uint8Array,
  at: { source: (local: string) => string; target: (local: string) => string; shown: string; signal?: AbortSignal },
): Promise<number> {
  // Per missing entry added by itself, how many are added with it (itself and all below it); parents come first.
  const top = new Int32Array(made.count).fill(-1)
  const withIt = new Int32Array(made.count)
  for (let slot = 1; slot < made.count; slot++) {
    if (present[slot] === 1) continue
    const parent = made.parentSlot(slot)!
    top[slot] = present[parent] === 1 ? slot : top[parent]!
    withIt[top[slot]!]!++
  }
  const grown = new Set<string>()
  const pace = paced(at.signal)
  let added = 0
  for (let slot = 1; slot < made.count; slot++) {
    if (top[slot] !== slot) continue
    await pace(0)
    at.signal?.throwIfAborted() // each link or rename a turn of the event loop: a Ctrl-C is heard before the next
    const local = made.local(slot)
    try {
      if (made.isDir(slot)) await rename(at.source(local), at.target(local))
      else await link(at.source(local), at.target(local))
    } catch (err) {
      throw stoppedBy(at.shown, local, added, err)
    }
    if (!made.holds(slot, identityOf(lstatSync(at.target(local), { bigint: true }))))
      throw new P2PError('E_IO', `${printable(join(at.shown, local))} was replaced as it was added: ${filled(added)}`)
    grown.add(dirname(local))
    added += withIt[slot]!
  }
  try {
    for (const dir of grown) await syncUserDir(at.target(dir))
  } catch (err) {
    throw new P2PError(
      'E_IO',
      `${printable(at.shown)}: ${filled(added)}, but syncing it failed: ${(err as Error).message}`,
    )
  }
  return added
}

function filled(added: number): string {
  return `${added} of its entries were added, each the verified one, and nothing there was replaced`
}

function stoppedBy(existing: string, local: string, added: number, err: unknown): P2PError {
  const code = (err as NodeJS.ErrnoException).code
  const why = code === 'EEXIST' || code === 'ENOTEMPTY' ? 'something was put there meanwhile' : (code ?? String(err))
  return new P2PError(
    'E_EXISTS',
    `could not add ${printable(local)} to ${printable(existing)} (${why}); ${filled(added)}: move it aside and run the download again`,
  )
}
