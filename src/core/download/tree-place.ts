import { randomBytes } from 'node:crypto'
import { lstat, mkdir, open, readdir, rename, rmdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { MAX_NAME_BYTES } from '../constants.js'
import { OPEN_DIR } from '../dir-fd.js'
import { fromFsError, P2PError } from '../errors.js'
import { identityOf } from '../file-identity.js'
import { shorten } from '../names.js'
import { printable } from '../printable.js'
import { breather, type MadeTable, paced, YIELD_EVERY } from './made-table.js'
import { sameContent } from './same-content.js'
import { type Durable, makeDurable, type SyncFilesystem, syncUserDir } from './tree-durable.js'
import { type FolderIndex, fillIn } from './tree-fill.js'
import { modeFits } from './tree-part-walk.js'
import { readPlaced, recordPlaced } from './tree-placed.js'

/**
 * A finished temporary tree (temp-tree.ts) given its final name: the tree
 * made durable (tree-durable.ts), then every entry checked again to be what
 * the tree made, then `NAME`, or `NAME (n)` when taken. The final name is
 * claimed with mkdir (never merging into or replacing what is there), the
 * tree renamed over that empty directory, and what then has the name
 * checked to be the tree's root. A claim a killed run left is taken back.
 * The part of this folder an earlier `--only` placed, at NAME or "NAME (n)",
 * is filled in instead (tree-fill.ts).
 */

export interface PlaceResult {
  path: string
  /** An identical tree was already at the final name: kept, and the temporary one removed. */
  alreadyThere: boolean
  /** Entries added to a partial copy of this folder already at the final name (tree-fill.ts); 0 otherwise. */
  filledIn: number
  /** How the tree was made durable before it was placed. */
  durable: Durable
}

/** The temporary tree as placing needs it. */
export interface Placeable {
  readonly root: string
  readonly downloadsDir: string
  /** The folder's portable name. */
  readonly finalName: string
  /** The store entry's record of the temporary tree's name (removed once placed). */
  readonly recordPath: string
  /** The store entry's record of the folder placed (tree-placed.ts), which a later part fills in. */
  readonly placedRecordPath: string
  /** The mode the tree's root gets (what mkdir gives a directory here). */
  readonly dirMode: number
  readonly made: MadeTable
  /** One sync of the tree's filesystem, when one is expected to work. */
  readonly syncFilesystem: SyncFilesystem | undefined
  /** Each written file was synced as it was written (no filesystem sync was expected). */
  readonly filesSynced: boolean
  /** Throws unless the entry in `slot` is still what the tree made. */
  assertUnchanged(slot: number): void
  discard(): Promise<void>
}

/**
 * Stops (rejecting with its reason) when `signal` aborts, and lets the event
 * loop run every YIELD_EVERY entries: a folder of 100,000 entries is
 * 100,000 checks.
 */
export async function placeTree(tree: Placeable, signal?: AbortSignal, folder?: FolderIndex): Promise<PlaceResult> {
  try {
    const durable = await makeDurable(tree, { sync: tree.syncFilesystem, filesSynced: tree.filesSynced, signal })
    // Checked after the sync, not before it: a root swapped while the sync ran would otherwise be named (the
    // fallback's syncs open by path, never following a link at the end; a swap there is caught here).
    for (let slot = 0; slot < tree.made.count; slot++) {
      tree.assertUnchanged(slot)
      if ((slot + 1) % YIELD_EVERY === 0) await breather(signal)
    }
    await setRootMode(tree)
    const placed = folder === undefined ? undefined : await readPlaced(tree.placedRecordPath)
    for (let n = 0; n < 10_000; n++) {
      const candidate = n === 0 ? tree.finalName : numberedDir(tree.finalName, n)
      const path = join(tree.downloadsDir, candidate)
      if (!(await claim(path))) {
        if (n === 0 && (await matches(tree, path, signal))) {
          await recordPlaced(tree.placedRecordPath, await lstat(path, { bigint: true }))
          await tree.discard()
          return { path, alreadyThere: true, filledIn: 0, durable }
        }
        const filledIn = folder === undefined ? undefined : await fillIn(tree, path, { folder, placed }, signal)
        if (filledIn !== undefined) {
          await tree.discard()
          return { path, alreadyThere: filledIn === 0, filledIn, durable }
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
      // The root could still be swapped between the checks and the rename: what now has the name must be it.
      const st = await lstat(path, { bigint: true })
      if (!st.isDirectory() || !tree.made.holds(0, identityOf(st))) {
        const aside = `${tree.root}-replaced-${randomBytes(4).toString('hex')}`
        await rename(path, aside).catch(() => undefined)
        throw replaced(tree.root, aside)
      }
      await syncUserDir(tree.downloadsDir)
      await recordPlaced(tree.placedRecordPath, st)
      await unlink(tree.recordPath).catch(() => undefined)
      return { path, alreadyThere: false, filledIn: 0, durable }
    }
    throw new P2PError(
      'E_EXISTS',
      `too many folders named like ${printable(tree.finalName)} in ${tree.downloadsDir}: clean up`,
    )
  } catch (err) {
    throw fromFsError(err, `placing ${printable(tree.root)}`)
  }
}

/** The root's final mode, set through a descriptor of the directory the tree made (a link there is not followed). */
async function setRootMode(tree: Placeable): Promise<void> {
  const handle = await open(tree.root, OPEN_DIR)
  try {
    const st = await handle.stat({ bigint: true })
    if (!tree.made.holds(0, identityOf(st))) throw replaced(tree.root)
    await handle.chmod(tree.dirMode)
  } finally {
    await handle.close()
  }
}

function replaced(root: string, aside?: string): P2PError {
  return new P2PError(
    'E_IO',
    `${printable(root)} was replaced while the download was placing it${aside === undefined ? '' : ` (what was there is now ${printable(aside)})`}; nothing of it was named`,
  )
}

/**
 * Whether `existing` already holds this folder, as this download would have
 * made it: a real directory holding exactly our entries and nothing else,
 * every one owned by us with a mode that fits ours (modeFits; ours as in the
 * temporary tree, the root's the mode it is given), each file of ours one link, the same inode (a
 * re-run of a finished download) or the same bytes. (Attacker passes had a
 * planted copy with an extra script, a lost exec bit, another owner, a
 * setuid, sticky or world-writable mode, or a hard link to a file outside
 * reported as ours.) Every entry's kind, owner, mode and size first, then
 * the bytes of files not ours by inode, `signal` heard throughout: a
 * hostile seeder's second folder, its first plus one entry sorting last,
 * had 20,000 files hashed, 4 MiB of buffer each, before the difference was
 * seen, deaf to Ctrl-C for 33 s, and the run then reported success
 * (attacker, fifty-first session).
 */
async function matches(tree: Placeable, existing: string, signal?: AbortSignal): Promise<boolean> {
  const { made } = tree
  const uid = process.getuid?.()
  const toHash: number[] = []
  for (let slot = 0; slot < made.count; slot++) {
    if ((slot + 1) % YIELD_EVERY === 0) await breather(signal)
    const path = join(existing, made.local(slot))
    const st = await lstat(path, { bigint: true }).catch(() => undefined)
    if (st === undefined || (uid !== undefined && st.uid !== BigInt(uid))) return false
    const mode = slot === 0 ? tree.dirMode : (await lstat(join(tree.root, made.local(slot)))).mode & 0o7777
    if (!modeFits(Number(st.mode & 0o7777n), mode)) return false
    if (made.isDir(slot)) {
      if (!st.isDirectory() || (await extraEntry(made, existing, made.local(slot)))) return false
      continue
    }
    if (!st.isFile() || st.nlink !== 1n || st.size !== BigInt(made.check(slot)!.size)) return false
    // An empty regular file is every empty file; one of ours by inode is ours.
    if (st.size > 0n && !made.holds(slot, identityOf(st))) toHash.push(slot)
  }
  const pace = paced(signal)
  for (const slot of toHash) {
    const check = made.check(slot)!
    await pace(check.size)
    // Owner and links again on the file opened: the first pass looked at it by path, maybe seconds before.
    const same = await sameContent(join(existing, made.local(slot)), check.size, check.sha256, {
      ours: true,
      oneLink: true,
      signal,
    })
    if (!same) return false
  }
  return true
}

/** Whether the directory `local` of `existing` holds an entry the tree did not make. */
async function extraEntry(made: MadeTable, existing: string, local: string): Promise<boolean> {
  for (const name of await readdir(join(existing, local)))
    if (made.slotOf(local === '' ? name : join(local, name)) === undefined) return true
  return false
}

/**
 * The mode of a claim: sticky, no permission bits, which no one gives a directory of their own. A run killed
 * between the claim and the rename left an empty directory under the final name, and the next run placed the
 * folder beside it, at "NAME (1)" (attacker, fifty-second session); an empty directory of ours in this mode is
 * such a claim, taken back.
 */
const CLAIM_MODE = 0o1000

/** Make `path` as an empty directory; false when something is there already (a killed run's claim is taken back). */
async function claim(path: string): Promise<boolean> {
  for (let tries = 0; ; tries++) {
    try {
      await mkdir(path, { mode: CLAIM_MODE })
      return true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      if (tries > 0 || !(await leftClaim(path))) return false
    }
  }
}

/** Whether `path` was a killed run's claim, now removed (rmdir fails on whatever was put in it meanwhile). */
async function leftClaim(path: string): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined)
  const uid = process.getuid?.()
  if (!st?.isDirectory() || (st.mode & 0o7777) !== CLAIM_MODE || (uid !== undefined && st.uid !== uid)) return false
  return rmdir(path).then(
    () => true,
    () => false,
  )
}

/** "album" → "album (1)": a folder's name has no extension to keep. */
function numberedDir(name: string, n: number): string {
  const suffix = ` (${n})`
  return `${shorten(name, MAX_NAME_BYTES - suffix.length)}${suffix}`
}
