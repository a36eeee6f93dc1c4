import { randomBytes } from 'node:crypto'
import { closeSync, fdatasync, lstatSync, mkdirSync, openSync } from 'node:fs'
import { lstat, mkdir, rm, rmdir, unlink } from 'node:fs/promises'
import { dirname, join, sep } from 'node:path'
import { promisify } from 'node:util'
import { TEMP_MARKER } from '../constants.js'
import { OPEN_DIR } from '../dir-fd.js'
import { writeFileAtomic } from '../disk.js'
import { fromFsError, P2PError } from '../errors.js'
import { type FileIdentity, identityOf, sameFile } from '../file-identity.js'
import { portableName } from '../names.js'
import { TREE_PLACED_FILE } from '../packed.js'
import { printable } from '../printable.js'
import { EMPTY_SHA256 } from '../tree-manifest.js'
import { type FileCheck, MadeTable } from './made-table.js'
import type { TempTreeOptions } from './temp-tree-options.js'
import { AnchorMismatch, TreeAnchors } from './tree-anchors.js'
import { filesystemSyncFor, mkdirDurable, type SyncFilesystem } from './tree-durable.js'
import type { FolderIndex } from './tree-fill.js'
import {
  assertChain,
  assertMade,
  buildingError,
  createExclusive,
  leftoverRecord,
  localOf,
  type Made,
  openedIdentity,
  removeLeftover,
  swapped,
  tempPrefix,
} from './tree-local.js'
import { type PlaceResult, placeTree } from './tree-place.js'

export type { FileCheck } from './made-table.js'
export { breather, YIELD_EVERY } from './made-table.js'
export { localBytes, pathRoom } from './tree-local.js'
export type { PlaceResult } from './tree-place.js'

/**
 * The temporary tree a folder download is built in, and its final name
 * (protocol.md §4, folder entries). `downloads/<NAME>.part-<random>/` is
 * made with mode 0700 (nobody else can plant anything inside); each
 * directory is made with mkdir and each file written in with an exclusive
 * create (`addWrittenFile`: what a download does, tree-writer.ts), at its
 * portable path (names.ts portableName per component).
 *
 * Nothing is reached through a link: mkdir and an exclusive create never
 * follow one at the last component, and the directories above are reached
 * through their descriptors on Linux (tree-anchors.ts: `openat` by way of
 * `/proc/self/fd`, never by path), elsewhere (`anchored: false`) by a path
 * whose every directory is checked with lstat (device and inode) just
 * before, a swap in the instant after that check not excluded (the next
 * check or placing's stops the download). A written file's identity is its
 * descriptor's. Placing checks every entry again by path (tree-place.ts),
 * and finds a directory of ours moved away. What was made is kept
 * compactly (made-table.ts); the tree's name is recorded in the store entry
 * (`recordPath`) for a run after a killed one to remove the leftover.
 *
 * Each entry costs a few synchronous metadata calls (mkdir or open, lstat):
 * microseconds on a local disk, less than a round trip through libuv's pool.
 */

export class TempTree {
  /** What this tree made, the root first (for placing: tree-place.ts). */
  readonly made = new MadeTable()
  readonly finalName: string
  dirMode = 0o755
  readonly syncFilesystem: SyncFilesystem | undefined
  /** Files are synced as they are written: no filesystem sync is expected before placing. */
  readonly filesSynced: boolean
  /** The directories' descriptors entries are made through, where the system resolves them (closed once done). */
  private anchors: TreeAnchors | undefined

  private constructor(
    private readonly o: TempTreeOptions,
    readonly root: string,
    rootIdentity: FileIdentity,
    sync: SyncFilesystem | undefined,
  ) {
    this.finalName = portableName(o.name)
    this.made.add('', true, rootIdentity)
    this.syncFilesystem = sync
    this.filesSynced = sync === undefined
  }

  get downloadsDir(): string {
    return this.o.downloadsDir
  }

  get recordPath(): string {
    return this.o.recordPath
  }

  /** Remove a killed run's leftover, then make a fresh temporary tree (and record its name). */
  static async create(o: TempTreeOptions): Promise<TempTree> {
    await removeLeftover(o)
    const prefix = tempPrefix(o.name)
    let root: string | undefined
    let tree: TempTree | undefined
    try {
      await mkdirDurable(o.downloadsDir)
      root = join(o.downloadsDir, `${prefix}${randomBytes(6).toString('hex')}`)
      await mkdir(root, { mode: 0o700 }) // fails on anything already there, a link included
      const sync = o.syncFilesystem === false ? undefined : (o.syncFilesystem ?? (await filesystemSyncFor(root)))
      tree = TempTree.opened(o, root, sync)
      const made = identityOf(await lstat(root, { bigint: true }))
      await writeFileAtomic(o.recordPath, await leftoverRecord(root, made), { within: o.storeRoot })
      // The mode a directory gets here (0777 less the umask), for the tree's root once it is placed.
      const probe = join(root, `${TEMP_MARKER}mode`)
      await mkdir(probe)
      tree.dirMode = (await lstat(probe)).mode & 0o777
      await rmdir(probe)
      return tree
    } catch (err) {
      tree?.closeAnchors()
      if (root !== undefined) await rm(root, { recursive: true, force: true }).catch(() => undefined)
      throw fromFsError(err, `making a temporary folder in ${o.downloadsDir}`)
    }
  }

  /** The tree whose root was just made at `root`: its identity from a descriptor, which its anchors keep. */
  private static opened(o: TempTreeOptions, root: string, sync: SyncFilesystem | undefined): TempTree {
    const fd = openSync(root, OPEN_DIR)
    let anchors: TreeAnchors | undefined
    try {
      const tree = new TempTree(o, root, openedIdentity(fd), sync)
      anchors = o.anchored === false ? undefined : TreeAnchors.tryOpen(tree.made, fd)
      tree.anchors = anchors
      return tree
    } finally {
      if (anchors === undefined) closeSync(fd)
    }
  }

  /** Whether entries are made through directory descriptors (tree-anchors.ts). */
  get anchored(): boolean {
    return this.anchors !== undefined
  }

  /** Once the tree is placed or discarded (nothing is made after; anchors closed refuse to resolve). */
  private closeAnchors(): void {
    this.anchors?.close()
  }

  /** A directory of the folder (its parent made before it). */
  addDir(path: string): void {
    this.make(path, true, (target) => {
      mkdirSync(target)
      return true
    })
  }

  /** An empty file of the folder, executable or not. */
  addEmptyFile(path: string, exec: boolean): void {
    this.make(
      path,
      false,
      (target) => {
        const fd = createExclusive(target, exec)
        try {
          return openedIdentity(fd)
        } finally {
          closeSync(fd)
        }
      },
      { size: 0, sha256: EMPTY_SHA256 },
    )
  }

  /**
   * A file of the folder written here by `write` into a new file (created
   * exclusively, never through a link; executable or not), then synced
   * unless the whole tree will be (`filesSynced`).
   */
  async addWrittenFile(
    path: string,
    exec: boolean,
    check: FileCheck,
    write: (fd: number) => Promise<void>,
  ): Promise<void> {
    await this.make(
      path,
      false,
      (target) => {
        // Opened and closed synchronously (microseconds here); only the sync waits on the disk, on libuv's pool.
        // The create throws here, apart from what writing rejects with (make words them apart).
        const fd = createExclusive(target, exec)
        const written = async (): Promise<Made> => {
          try {
            const made = openedIdentity(fd)
            await write(fd)
            if (this.filesSynced) await promisify(fdatasync)(fd)
            return made
          } finally {
            closeSync(fd)
          }
        }
        return written()
      },
      check,
    )
  }

  /**
   * Make one entry with `create` in its directory: through that directory's
   * descriptor (anchored), or by a path whose every directory was checked
   * just before to be the one this tree made; then record what is there.
   */
  private make(path: string, dir: boolean, create: (target: string) => Made, check?: FileCheck): void
  private make(path: string, dir: boolean, create: (target: string) => Promise<Made>, check?: FileCheck): Promise<void>
  private make(
    path: string,
    dir: boolean,
    create: (target: string) => Made | Promise<Made>,
    check?: FileCheck,
  ): void | Promise<void> {
    const local = localOf(path)
    const cut = local.lastIndexOf(sep)
    const parentLocal = cut < 0 ? '' : local.slice(0, cut)
    const parent = this.made.slotOf(parentLocal)
    if (parent === undefined || !this.made.isDir(parent))
      throw new P2PError('E_INTERNAL', `${printable(path)}: its directory was not made first`)
    const shown = join(this.root, local)
    const anchors = this.anchors
    const name = local.slice(cut + 1)
    // Resolved again when needed: a descriptor may be closed (evicted) while a file is written.
    const at = (): string => (anchors === undefined ? shown : anchors.pathIn(parent, name))
    // `making`: the error came from reaching the directory or making the entry, not from writing into it.
    const fail =
      (making: boolean) =>
      (err: unknown): never => {
        if (err instanceof AnchorMismatch) throw swapped(join(this.root, this.made.local(err.slot)))
        throw buildingError(err, shown, { anchored: anchors !== undefined, making })
      }
    // Not the chain again once the entry is made: a swap between the check and the create has done what it
    // does by then, and placing checks every entry, each directory included, before the name is given.
    // Anchored, what was made is in the tree's own directory: its identity is the descriptor's.
    const record = (made: Made): void => {
      if (anchors !== undefined) {
        if (made === true) anchors.adopt(parent, name, (id) => this.made.add(local, true, id))
        else this.made.add(local, false, made, check)
        return
      }
      const st = lstatSync(at(), { bigint: true })
      if ((dir ? !st.isDirectory() : !st.isFile()) || (made !== true && !sameFile(identityOf(st), made)))
        throw swapped(shown)
      this.made.add(local, dir, identityOf(st), check)
    }
    try {
      if (anchors === undefined) assertChain(this.root, this.made, parentLocal)
      const made = create(at())
      if (!(made instanceof Promise)) return record(made)
      return made.then(record).catch(fail(false))
    } catch (err) {
      return fail(true)(err)
    }
  }

  /** The entry in `slot` is still what this tree made there (tree-local.ts assertMade). */
  assertUnchanged(slot: number): void {
    assertMade(this.root, this.made, slot)
  }

  /** Where the store entry records the folder placed (tree-placed.ts): beside the temporary tree's record. */
  get placedRecordPath(): string {
    return join(dirname(this.o.recordPath), TREE_PLACED_FILE)
  }

  /** Every entry checked again, then the final name (tree-place.ts); `folder` lets a partial copy there be filled in. */
  async place(signal?: AbortSignal, folder?: FolderIndex): Promise<PlaceResult> {
    this.closeAnchors()
    return placeTree(this, signal, folder)
  }

  /** Remove the temporary tree (only if it is still the directory made here) and its record. */
  async discard(): Promise<void> {
    this.closeAnchors()
    const st = await lstat(this.root, { bigint: true }).catch(() => undefined)
    if (st?.isDirectory() && this.made.holds(0, identityOf(st))) {
      await rm(this.root, { recursive: true, force: true }).catch(() => undefined)
    }
    await unlink(this.o.recordPath).catch(() => undefined)
  }
}
