import { randomBytes } from 'node:crypto'
import { closeSync, constants, fdatasync, linkSync, lstatSync, mkdirSync, openSync, type Stats } from 'node:fs'
import { chmod, copyFile, lstat, mkdir, open, rename, rm, rmdir, unlink } from 'node:fs/promises'
import { basename, join, resolve, sep } from 'node:path'
import { promisify } from 'node:util'
import { MAX_NAME_BYTES, TEMP_MARKER } from '../constants.js'
import { writeFileAtomic } from '../disk.js'
import { fromFsError, P2PError } from '../errors.js'
import { portableName, shorten } from '../names.js'
import { printable } from '../printable.js'
import { readRegularFile } from '../safe-fs.js'
import { EMPTY_SHA256 } from '../tree-manifest.js'
import { sameContent } from './final-name.js'

/**
 * The temporary tree a folder download is built in, and its final name
 * (protocol.md §4, folder entries). `downloads/<NAME>.part-<random>/` is
 * made with mode 0700 (nobody else can plant anything inside); each
 * directory is made with mkdir and each file written in with an exclusive
 * create (`addWrittenFile`: what a download does, tree-writer.ts), at its
 * portable path (names.ts portableName per component). `addFile`
 * hard-links a verified store file instead (copied across filesystems):
 * for a store that keeps one file per folder file, which the download does
 * not do yet (docs/architecture.md).
 *
 * Nothing is reached through a link: before each entry is made, its
 * directory and every directory above it are checked with lstat to be the
 * very ones this tree made (device and inode; a link anywhere in the chain
 * fails the check), again once the entry is made, and link, mkdir and an
 * exclusive create never follow a link at the last component. (A swap in
 * the instant between the check and the open is not excluded: the check
 * after it then stops the download; openat-style creation would close it.)
 * Before the tree gets its final name, every entry is checked again. The final name is claimed with mkdir (never merging into
 * or replacing what is there: `NAME (1)`, `NAME (2)`, … then) and the tree
 * renamed over that empty directory.
 *
 * The tree's name is recorded in the store entry (`recordPath`), so a run
 * after a killed one removes the leftover.
 *
 * Each entry costs a few synchronous metadata calls (lstat, mkdir or link):
 * microseconds each on a local disk, where a round trip through libuv's
 * pool costs more than the call, and a folder of 10,000 small files makes
 * 10,000 of them.
 */

export interface TempTreeOptions {
  downloadsDir: string
  /** The folder's name as the manifest gives it (made portable here). */
  name: string
  /** Private file in the store entry remembering the temporary tree's name between runs. */
  recordPath: string
  /** The store's root: the record is written only through real directories below it. */
  storeRoot: string
}

/** What a file of the tree must be when the tree is placed: this inode, and these bytes. */
export interface FileCheck {
  size: number
  sha256: string
}

export interface PlaceResult {
  path: string
  /** An identical tree was already at the final name: kept, and the temporary one removed. */
  alreadyThere: boolean
  /** Directories of the tree fsynced before it was placed (those that received entries). */
  syncedDirs: number
}

interface Identity {
  dev: number
  ino: number
}

interface Made {
  /** Path below the tree's root, portable components joined with the platform separator. */
  local: string
  dev: number
  ino: number
  dir: boolean
  check?: FileCheck
}

const SUFFIX_BYTES = '.part-'.length + 12

/** Longest absolute path the kernel takes, in bytes (Linux's PATH_MAX, its terminating NUL left out). */
const PATH_MAX_BYTES = 4095

/**
 * Bytes a manifest path may have under `downloadsDir` for the folder
 * `name`: every entry is made at `<downloadsDir>/<temporary name>/<local
 * path>` and, for a re-run's comparison, read at `<downloadsDir>/<NAME>/…`,
 * and the kernel refuses a path over PATH_MAX (4,096 bytes with its NUL)
 * however short each component is.
 */
export function pathRoom(downloadsDir: string, name: string): number {
  const portable = portableName(name)
  const temp = Buffer.byteLength(shorten(portable, MAX_NAME_BYTES - SUFFIX_BYTES)) + SUFFIX_BYTES
  const prefix = Buffer.byteLength(resolve(downloadsDir)) + 1 + Math.max(temp, Buffer.byteLength(portable)) + 1
  return PATH_MAX_BYTES - prefix
}

/** A manifest path's length once saved (its components made portable), in bytes. */
export function localBytes(path: string): number {
  return Buffer.byteLength(localOf(path))
}

export class TempTree {
  private readonly made = new Map<string, Made>()
  private readonly finalName: string
  private dirMode = 0o755

  private constructor(
    private readonly o: TempTreeOptions,
    readonly root: string,
    rootStats: Stats,
  ) {
    this.finalName = portableName(o.name)
    this.made.set('', { local: '', dev: rootStats.dev, ino: rootStats.ino, dir: true })
  }

  /** Remove a killed run's leftover, then make a fresh temporary tree (and record its name). */
  static async create(o: TempTreeOptions): Promise<TempTree> {
    await removeLeftover(o)
    const prefix = `${shorten(portableName(o.name), MAX_NAME_BYTES - SUFFIX_BYTES)}.part-`
    let root: string | undefined
    try {
      await mkdir(o.downloadsDir, { recursive: true })
      root = join(o.downloadsDir, `${prefix}${randomBytes(6).toString('hex')}`)
      await mkdir(root, { mode: 0o700 }) // fails on anything already there, a link included
      const tree = new TempTree(o, root, await lstat(root))
      await writeFileAtomic(o.recordPath, basename(root), { within: o.storeRoot })
      // The mode a directory gets here (0777 less the umask), for the tree's root once it is placed.
      const probe = join(root, `${TEMP_MARKER}mode`)
      await mkdir(probe)
      tree.dirMode = (await lstat(probe)).mode & 0o777
      await rmdir(probe)
      return tree
    } catch (err) {
      if (root !== undefined) await rm(root, { recursive: true, force: true }).catch(() => undefined)
      throw fromFsError(err, `making a temporary folder in ${o.downloadsDir}`)
    }
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
        closeSync(
          openSync(
            target,
            constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
            exec ? 0o777 : 0o666,
          ),
        )
        return true
      },
      { size: 0, sha256: EMPTY_SHA256 },
    )
  }

  /**
   * A complete, verified file of the folder: a hard link to `source` (the
   * store's copy, which must still be `identity`), or, across filesystems,
   * a copy (fsynced).
   */
  async addFile(path: string, source: string, identity: { dev: number; ino: number }, check: FileCheck): Promise<void> {
    const linked = this.make(
      path,
      false,
      (target) => {
        try {
          linkSync(source, target)
          return true
        } catch (err) {
          if (CROSS_DEVICE.has((err as NodeJS.ErrnoException).code ?? '')) return false
          throw err
        }
      },
      check,
      identity,
    )
    if (linked) return
    // Across filesystems: a copy of the verified file instead (checked to be it just before).
    await this.make(
      path,
      false,
      async (target) => {
        const st = await lstat(source)
        if (!st.isFile() || st.dev !== identity.dev || st.ino !== identity.ino) throw notVerified(source)
        await copyFile(source, target, constants.COPYFILE_EXCL)
        const copy = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW)
        try {
          await copy.sync()
        } finally {
          await copy.close()
        }
        return true
      },
      check,
    )
  }

  /**
   * A file of the folder written here by `write` into a new file (created
   * exclusively, never through a link; executable or not), then synced.
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
      async (target) => {
        // Opened and closed synchronously (microseconds here); only the sync waits on the disk, on libuv's pool.
        const fd = openSync(
          target,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          exec ? 0o777 : 0o666,
        )
        try {
          await write(fd)
          await promisify(fdatasync)(fd)
        } finally {
          closeSync(fd)
        }
        return true
      },
      check,
    )
  }

  /**
   * Make one entry with `create` (false: nothing made, nothing recorded),
   * in a directory checked just before to be the one this tree made; then
   * record what is there (which must be `expected` when given).
   */
  private make(
    path: string,
    dir: boolean,
    create: (target: string) => boolean,
    check?: FileCheck,
    expected?: Identity,
  ): boolean
  private make(
    path: string,
    dir: boolean,
    create: (target: string) => Promise<boolean>,
    check?: FileCheck,
    expected?: Identity,
  ): Promise<boolean>
  private make(
    path: string,
    dir: boolean,
    create: (target: string) => boolean | Promise<boolean>,
    check?: FileCheck,
    expected?: Identity,
  ): boolean | Promise<boolean> {
    const local = localOf(path)
    const cut = local.lastIndexOf(sep)
    const parent = this.made.get(cut < 0 ? '' : local.slice(0, cut))
    if (parent === undefined || !parent.dir)
      throw new P2PError('E_INTERNAL', `${printable(path)}: its directory was not made first`)
    const target = join(this.root, local)
    const fail = (err: unknown): never => {
      throw fromFsError(err, `building ${printable(target)}`)
    }
    const record = (made: boolean): boolean => {
      if (!made) return false
      this.assertChain(parent.local) // again: a swap during an asynchronous create is caught before it counts
      const st = lstatSync(target)
      if (
        (dir ? !st.isDirectory() : !st.isFile()) ||
        (expected !== undefined && (st.dev !== expected.dev || st.ino !== expected.ino))
      )
        throw swapped(target)
      this.made.set(local, { local, dev: st.dev, ino: st.ino, dir, ...(check ? { check } : {}) })
      return true
    }
    try {
      this.assertChain(parent.local)
      const made = create(target)
      if (typeof made === 'boolean') return record(made)
      return made.then(record).catch(fail)
    } catch (err) {
      return fail(err)
    }
  }

  /**
   * Every directory from the root down to `local` is still what this tree
   * made: checking only the last one would pass when a directory above it
   * was moved away and replaced by a link (the path then resolves, through
   * the link, to the very same directory).
   */
  private assertChain(local: string): void {
    const parts = local === '' ? [] : local.split(sep)
    for (let depth = 0; depth <= parts.length; depth++) {
      const made = this.made.get(parts.slice(0, depth).join(sep))
      if (made === undefined) throw new P2PError('E_INTERNAL', `${printable(local)}: a directory above it was not made`)
      this.assertUnchanged(made)
    }
  }

  /** `made` is still what this tree made there (a real directory or file, same device and inode). */
  private assertUnchanged(made: Made): void {
    const path = join(this.root, made.local)
    const st = lstatSync(path)
    if ((made.dir ? !st.isDirectory() : !st.isFile()) || st.dev !== made.dev || st.ino !== made.ino) throw swapped(path)
  }

  /**
   * Every entry checked again, the directories that received entries synced,
   * then the final name: `NAME`, or `NAME (n)` when taken. Stops (rejecting
   * with its reason) when `signal` aborts, and lets the event loop run every
   * YIELD_EVERY entries: a folder of 100,000 entries is 100,000 checks.
   */
  async place(signal?: AbortSignal): Promise<PlaceResult> {
    try {
      let n = 0
      for (const made of this.made.values()) {
        this.assertUnchanged(made)
        if (++n % YIELD_EVERY === 0) await breather(signal)
      }
      const syncedDirs = await this.syncParents(signal)
      await chmod(this.root, this.dirMode)
      for (let n = 0; n < 10_000; n++) {
        const candidate = n === 0 ? this.finalName : numberedDir(this.finalName, n)
        const path = join(this.o.downloadsDir, candidate)
        if (!(await claim(path))) {
          if (n === 0 && (await this.matches(path))) {
            await this.discard()
            return { path, alreadyThere: true, syncedDirs }
          }
          continue
        }
        try {
          await rename(this.root, path)
        } catch (err) {
          // Something was put in the claimed directory meanwhile (ENOTEMPTY) or it was replaced: leave it, next name.
          await rmdir(path).catch(() => undefined)
          if (!['ENOTEMPTY', 'EEXIST', 'ENOTDIR', 'EISDIR'].includes((err as NodeJS.ErrnoException).code ?? ''))
            throw err
          continue
        }
        await syncDir(this.o.downloadsDir)
        await unlink(this.o.recordPath).catch(() => undefined)
        return { path, alreadyThere: false, syncedDirs }
      }
      throw new P2PError(
        'E_EXISTS',
        `too many folders named like ${printable(this.finalName)} in ${this.o.downloadsDir}: clean up`,
      )
    } catch (err) {
      throw fromFsError(err, `placing ${printable(this.root)}`)
    }
  }

  /**
   * A directory's own entries are made durable by fsyncing it, so each
   * directory that received an entry is synced once (an empty one has
   * nothing to make durable: its parent's sync records it): deepest first,
   * SYNC_AT_ONCE at a time within one depth, the signal checked between
   * batches. 20,000 empty directories in one folder: one fsync, not 20,001.
   */
  private async syncParents(signal?: AbortSignal): Promise<number> {
    const byDepth = new Map<number, Set<string>>()
    for (const made of this.made.values()) {
      if (made.local === '') continue
      const cut = made.local.lastIndexOf(sep)
      const parent = cut < 0 ? '' : made.local.slice(0, cut)
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
        await Promise.all(parents.slice(i, i + SYNC_AT_ONCE).map((local) => syncDir(join(this.root, local))))
      }
      synced += parents.length
    }
    return synced
  }

  /**
   * Whether `existing` already holds this folder: a real directory where
   * every directory of ours is a real directory and every file of ours the
   * same inode (a re-run of a finished download) or the same bytes.
   */
  private async matches(existing: string): Promise<boolean> {
    for (const made of this.made.values()) {
      const path = join(existing, made.local)
      const st = await lstat(path).catch(() => undefined)
      if (st === undefined) return false
      if (made.dir) {
        if (!st.isDirectory()) return false
        continue
      }
      if (!st.isFile()) return false
      if (st.dev === made.dev && st.ino === made.ino) continue
      if (!(await sameContent(path, made.check!.size, made.check!.sha256))) return false
    }
    return true
  }

  /** Remove the temporary tree (only if it is still the directory made here) and its record. */
  async discard(): Promise<void> {
    const st = await lstat(this.root).catch(() => undefined)
    if (st?.isDirectory() && st.ino === this.made.get('')!.ino && st.dev === this.made.get('')!.dev) {
      await rm(this.root, { recursive: true, force: true }).catch(() => undefined)
    }
    await unlink(this.o.recordPath).catch(() => undefined)
  }
}

/** Entries made or checked between two turns of the event loop (each a few synchronous metadata calls). */
export const YIELD_EVERY = 256
/** Directory fsyncs at once (libuv's pool has 4 threads; the disk merges them). */
const SYNC_AT_ONCE = 8

/** Let timers, I/O and signal handlers run; then stop if `signal` was aborted meanwhile. */
export async function breather(signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve))
  signal?.throwIfAborted()
}

const CROSS_DEVICE = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP'])

/** A manifest path as a path below the tree's root: each component made portable. */
function localOf(path: string): string {
  return path.split('/').map(portableName).join(sep)
}

/** The temporary tree a killed run left (named in the record), removed when it is a real directory in downloads/. */
async function removeLeftover(o: TempTreeOptions): Promise<void> {
  let name: string
  try {
    name = (await readRegularFile(o.recordPath, { maxBytes: 1024 })).toString('utf8')
  } catch {
    return // none
  }
  // Only a plain name of the form we make: never a path, whatever the record says.
  if (name.includes('/') || name.includes('\\') || name === '.' || name === '..' || !name.includes('.part-')) return
  const path = join(o.downloadsDir, name)
  const st = await lstat(path).catch(() => undefined)
  // rm does not follow links inside; a link in its place is left alone.
  if (st?.isDirectory()) await rm(path, { recursive: true, force: true }).catch(() => undefined)
  await unlink(o.recordPath).catch(() => undefined)
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

function swapped(path: string): P2PError {
  return new P2PError(
    'E_IO',
    `${printable(path)} was replaced while the download was building it (by a link or something else); stopped rather than write through it`,
  )
}

function notVerified(path: string): P2PError {
  return new P2PError(
    'E_IO',
    `${printable(path)} is not the file that was verified (the store's copy was replaced during the download); run again`,
  )
}
