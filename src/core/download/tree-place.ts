import { constants } from 'node:fs'
import { chmod, lstat, mkdir, open, rename, rmdir, unlink } from 'node:fs/promises'
import { join, sep } from 'node:path'
import { MAX_NAME_BYTES } from '../constants.js'
import { fromFsError, P2PError } from '../errors.js'
import { shorten } from '../names.js'
import { printable } from '../printable.js'
import { sameContent } from './final-name.js'
import { breather, type MadeTable, YIELD_EVERY } from './made-table.js'

/**
 * A finished temporary tree (temp-tree.ts) given its final name: every
 * entry checked again to be what the tree made, the directories that
 * received entries synced, then `NAME`, or `NAME (n)` when taken. The final
 * name is claimed with mkdir (never merging into or replacing what is
 * there) and the tree renamed over that empty directory.
 */

export interface PlaceResult {
  path: string
  /** An identical tree was already at the final name: kept, and the temporary one removed. */
  alreadyThere: boolean
  /** Directories of the tree fsynced before it was placed (those that received entries). */
  syncedDirs: number
}

/** The temporary tree as placing needs it. */
export interface Placeable {
  readonly root: string
  readonly downloadsDir: string
  /** The folder's portable name. */
  readonly finalName: string
  /** The store entry's record of the temporary tree's name (removed once placed). */
  readonly recordPath: string
  /** The mode the tree's root gets (what mkdir gives a directory here). */
  readonly dirMode: number
  readonly made: MadeTable
  /** Throws unless the entry in `slot` is still what the tree made. */
  assertUnchanged(slot: number): void
  discard(): Promise<void>
}

/**
 * Stops (rejecting with its reason) when `signal` aborts, and lets the event
 * loop run every YIELD_EVERY entries: a folder of 100,000 entries is
 * 100,000 checks.
 */
export async function placeTree(tree: Placeable, signal?: AbortSignal): Promise<PlaceResult> {
  try {
    for (let slot = 0; slot < tree.made.count; slot++) {
      tree.assertUnchanged(slot)
      if ((slot + 1) % YIELD_EVERY === 0) await breather(signal)
    }
    const syncedDirs = await syncParents(tree, signal)
    await chmod(tree.root, tree.dirMode)
    for (let n = 0; n < 10_000; n++) {
      const candidate = n === 0 ? tree.finalName : numberedDir(tree.finalName, n)
      const path = join(tree.downloadsDir, candidate)
      if (!(await claim(path))) {
        if (n === 0 && (await matches(tree.made, path))) {
          await tree.discard()
          return { path, alreadyThere: true, syncedDirs }
        }
        continue
      }
      try {
        await rename(tree.root, path)
      } catch (err) {
        // Something was put in the claimed directory meanwhile (ENOTEMPTY) or it was replaced: leave it, next name.
        await rmdir(path).catch(() => undefined)
        if (!['ENOTEMPTY', 'EEXIST', 'ENOTDIR', 'EISDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err
        continue
      }
      await syncDir(tree.downloadsDir)
      await unlink(tree.recordPath).catch(() => undefined)
      return { path, alreadyThere: false, syncedDirs }
    }
    throw new P2PError(
      'E_EXISTS',
      `too many folders named like ${printable(tree.finalName)} in ${tree.downloadsDir}: clean up`,
    )
  } catch (err) {
    throw fromFsError(err, `placing ${printable(tree.root)}`)
  }
}

/**
 * A directory's own entries are made durable by fsyncing it, so each
 * directory that received an entry is synced once (an empty one has
 * nothing to make durable: its parent's sync records it): deepest first,
 * SYNC_AT_ONCE at a time within one depth, the signal checked between
 * batches. 20,000 empty directories in one folder: one fsync, not 20,001.
 */
async function syncParents(tree: Placeable, signal?: AbortSignal): Promise<number> {
  const byDepth = new Map<number, Set<string>>()
  for (let slot = 0; slot < tree.made.count; slot++) {
    const parent = tree.made.parentOf(slot)
    if (parent === undefined) continue
    const depth = parent === '' ? 0 : parent.split(sep).length
    const level = byDepth.get(depth) ?? new Set<string>()
    byDepth.set(depth, level)
    level.add(parent)
  }
  let synced = 0
  for (const depth of [...byDepth.keys()].sort((a, b) => b - a)) {
    const parents = [...byDepth.get(depth)!]
    for (let i = 0; i < parents.length; i += SYNC_AT_ONCE) {
      signal?.throwIfAborted()
      await Promise.all(parents.slice(i, i + SYNC_AT_ONCE).map((local) => syncDir(join(tree.root, local))))
    }
    synced += parents.length
  }
  return synced
}

/** Directory fsyncs at once (libuv's pool has 4 threads; the disk merges them). */
const SYNC_AT_ONCE = 8

/**
 * Whether `existing` already holds this folder: a real directory where
 * every directory of ours is a real directory and every file of ours the
 * same inode (a re-run of a finished download) or the same bytes.
 */
async function matches(made: MadeTable, existing: string): Promise<boolean> {
  for (let slot = 0; slot < made.count; slot++) {
    const path = join(existing, made.local(slot))
    const st = await lstat(path).catch(() => undefined)
    if (st === undefined) return false
    if (made.isDir(slot)) {
      if (!st.isDirectory()) return false
      continue
    }
    if (!st.isFile()) return false
    if (st.dev === made.dev(slot) && st.ino === made.ino(slot)) continue
    const check = made.check(slot)!
    if (!(await sameContent(path, check.size, check.sha256))) return false
  }
  return true
}

/** Make `path` as an empty directory; false when something is there already. */
async function claim(path: string): Promise<boolean> {
  try {
    await mkdir(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
}

async function syncDir(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW)
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** "album" → "album (1)": a folder's name has no extension to keep. */
function numberedDir(name: string, n: number): string {
  const suffix = ` (${n})`
  return `${shorten(name, MAX_NAME_BYTES - suffix.length)}${suffix}`
}
