import type { BigIntStats, Dirent } from 'node:fs'
import { accessSync, closeSync, lstatSync } from 'node:fs'
import { constants, lstat, opendir, realpath, stat } from 'node:fs/promises'
import { isAbsolute, join, relative, sep } from 'node:path'
import { P2PError } from './errors.js'
import { type FileIdentity, identityKey, identityOf } from './file-identity.js'
import { printable } from './printable.js'
import { DEFAULT_MAX_TREE_ENTRIES } from './tree-manifest.js'
import { compareUtf8, TreeShape } from './tree-paths.js'
import { changedWhileRead, skippedByType, WalkProblems } from './tree-walk-problems.js'
import { type HeldDir, holdDir } from './walk-dir.js'

/**
 * Lists a directory tree for `p2p-split DIR`: every regular file (size,
 * executable bit) and every directory, empty ones included, as the sorted
 * entries of a folder manifest (tree-manifest.ts). Holds paths and sizes,
 * never contents; bounded by `maxEntries`.
 *
 * - Symbolic links are not followed: each is skipped and reported. With
 *   `followSymlinks`, a link whose target (resolved with realpath) is inside
 *   DIR is taken as what it points to; one that leads outside DIR, to
 *   nothing, or back to a directory it sits in (a loop) is skipped.
 * - FIFOs, sockets and devices are skipped and reported.
 * - Names that break the path rules (tree-paths.ts), two names of one
 *   directory that would be one file on a case-insensitive or Windows
 *   volume, and unreadable files or directories: all are collected
 *   (tree-walk-problems.ts), and the walk then stops with one error naming
 *   them (E_BAD_NAME, E_IO).
 * - Each directory is checked to be the same real directory before and
 *   after it is listed, so a directory swapped for a link mid-walk is not
 *   followed out of DIR; each file's device and inode are recorded so the
 *   split can check it reads the very file that was walked.
 */

export interface WalkedFile {
  readonly type: 'file'
  /** The manifest path: `/`-separated, NFC. */
  readonly path: string
  /** Where to read it (the real path of a followed link's target). */
  readonly source: string
  readonly size: number
  readonly exec: boolean
  /** Identity at walk time: the split reads the file only while it is still this one. */
  readonly identity: FileIdentity
}

export interface WalkedDir {
  readonly type: 'dir'
  readonly path: string
}

export type WalkedEntry = WalkedFile | WalkedDir

export type SkipReason =
  | 'symlink'
  | 'link outside the folder'
  | 'broken link'
  | 'link loop'
  | 'fifo'
  | 'socket'
  | 'device'
  | 'vanished'

export interface WalkResult {
  /** DIR's real path. */
  readonly root: string
  /** Sorted by path (UTF-8 bytes), parents before what they hold. */
  readonly entries: readonly WalkedEntry[]
  readonly files: number
  readonly bytes: number
  /** What was left out and why (the first MAX_REPORTED; `skippedCount` counts them all). */
  readonly skipped: ReadonlyArray<{ path: string; why: SkipReason }>
  readonly skippedCount: number
}

export interface WalkOptions {
  followSymlinks?: boolean
  maxEntries?: number
  signal?: AbortSignal
}

/** The most skipped entries a walk keeps to report (all are counted). */
const MAX_REPORTED = 1000
/** Entries looked at between two turns of the event loop. */
const TURN_EVERY = 256

interface Pending {
  /** On-disk path to list. */
  disk: string
  /** Manifest path ('' for the root). */
  path: string
  /** dev:ino of this directory as its parent's listing found it: what its path must still lead to. */
  id: string
  /** dev:ino of this directory and of every directory above it, to detect a followed link looping back. */
  ancestors: ReadonlySet<string>
}

export async function walkTree(dir: string, options: WalkOptions = {}): Promise<WalkResult> {
  const walk = new Walk(options)
  return walk.run(dir)
}

class Walk {
  private readonly entries: WalkedEntry[] = []
  private readonly skipped: Array<{ path: string; why: SkipReason }> = []
  private skippedCount = 0
  /** Unreadable entries and names that cannot be shared: the walk ends with one error naming them. */
  private readonly problems = new WalkProblems()
  private root = ''
  private readonly maxEntries: number
  /** Whether directories' entries are looked up through `/proc/self/fd` (decided at the first directory). */
  throughProc: boolean | undefined

  constructor(private readonly options: WalkOptions) {
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_TREE_ENTRIES
  }

  async run(dir: string): Promise<WalkResult> {
    const top = await stat(dir, { bigint: true }).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw new P2PError('E_NOT_FOUND', `no such directory: ${dir}`)
      throw new P2PError('E_IO', `cannot read ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
    })
    if (!top.isDirectory()) throw new P2PError('E_USAGE', `${dir} is not a directory`)
    this.root = await realpath(dir)
    const stack: Pending[] = [
      { disk: this.root, path: '', id: identityKey(top), ancestors: new Set([identityKey(top)]) },
    ]
    while (stack.length > 0) {
      this.options.signal?.throwIfAborted()
      const next = stack.pop()!
      for (const sub of await this.list(next)) stack.push(sub)
    }
    this.problems.throwIfAny(this.root)
    this.entries.sort((a, b) => compareUtf8(a.path, b.path))
    // The rules a receiver applies, on what we are about to describe (the walk's own checks should have caught all).
    const shape = new TreeShape(this.maxEntries)
    for (const e of this.entries) {
      const problem = shape.add(e.path, e.type === 'dir')
      if (problem !== undefined) throw new P2PError('E_BAD_NAME', `cannot share ${this.root}: ${problem}`)
    }
    let files = 0
    let bytes = 0
    for (const e of this.entries)
      if (e.type === 'file') {
        files++
        bytes += e.size
      }
    return {
      root: this.root,
      entries: this.entries,
      files,
      bytes,
      skipped: this.skipped,
      skippedCount: this.skippedCount,
    }
  }

  /** One directory's entries: files and directories recorded, directories to descend into returned. */
  private async list(at: Pending): Promise<Pending[]> {
    const held = this.hold(at)
    if (held === undefined) return []
    try {
      return await this.listHeld(at, held)
    } finally {
      closeSync(held.fd)
    }
  }

  /** `at` held open (walk-dir.ts), or undefined when it vanished or cannot be read (reported). */
  private hold(at: Pending): HeldDir | undefined {
    const held = holdDir(at.disk, at.id, this)
    if (held === 'changed') throw changedWhileRead(at)
    if (held === 'vanished') return this.skip(at.path, 'vanished')
    if ('unreadable' in held) {
      this.problems.unreadableEntry(at.path === '' ? '.' : at.path, held.unreadable)
      return undefined
    }
    return held
  }

  private async listHeld(at: Pending, held: HeldDir): Promise<Pending[]> {
    let dirents: Dirent[]
    try {
      dirents = []
      for await (const d of await opendir(held.base, { bufferSize: 64 })) dirents.push(d)
    } catch (err) {
      this.problems.unreadableEntry(at.path === '' ? '.' : at.path, err)
      return []
    }
    // Skipped whatever its name: reported, never refused for its name (skippedByType).
    const kept = dirents.filter((d) => {
      const why = skippedByType(d, this.options.followSymlinks === true)
      if (why !== undefined) this.skip(at.path === '' ? d.name : `${at.path}/${d.name}`, why)
      return why === undefined
    })
    const named = this.problems.shareableNames(kept, at.path)
    const subdirs: Pending[] = []
    for (const [i, { d, path }] of named.entries()) {
      if (i % TURN_EVERY === TURN_EVERY - 1) await new Promise<void>((turned) => setImmediate(turned))
      const found = this.entryFor(at, join(held.base, d.name), join(at.disk, d.name), path)
      const sub = found instanceof Promise ? await found : found
      if (sub !== undefined) subdirs.push(sub)
    }
    const after = await lstat(at.disk, { bigint: true }).catch(() => undefined)
    if (after === undefined || !after.isDirectory() || identityKey(after) !== at.id) throw changedWhileRead(at)
    return subdirs
  }

  /**
   * Record one directory entry; returns it when it is a directory to
   * descend into. Its lstat and access are synchronous (microseconds on a
   * local disk, where a round trip through libuv's pool cost the main thread
   * more: a folder of 10,000 files made 20,000); a link followed is resolved
   * asynchronously.
   */
  private entryFor(
    parent: Pending,
    look: string,
    disk: string,
    path: string,
  ): Pending | undefined | Promise<Pending | undefined> {
    let st: BigIntStats
    try {
      st = lstatSync(look, { bigint: true })
    } catch {
      return this.skip(path, 'vanished')
    }
    if (st.isSymbolicLink()) return this.linkEntry(parent, disk, path)
    return this.record(parent, look, disk, path, st)
  }

  private async linkEntry(parent: Pending, disk: string, path: string): Promise<Pending | undefined> {
    if (!this.options.followSymlinks) return this.skip(path, 'symlink')
    const target = await this.insideTarget(disk, path)
    if (target === undefined) return undefined
    if (target.st.isDirectory() && parent.ancestors.has(identityKey(target.st))) return this.skip(path, 'link loop')
    return this.record(parent, target.source, target.source, path, target.st)
  }

  /** An entry found at `source` (itself, or a followed link's target; looked at through `look`) with stats `st`. */
  private record(parent: Pending, look: string, source: string, path: string, st: BigIntStats): Pending | undefined {
    if (st.isDirectory()) {
      this.add({ type: 'dir', path })
      return { disk: source, path, id: identityKey(st), ancestors: new Set([...parent.ancestors, identityKey(st)]) }
    }
    if (st.isFile()) {
      try {
        accessSync(look, constants.R_OK)
      } catch (err) {
        return this.problems.unreadableEntry(path, err)
      }
      this.add({
        type: 'file',
        path,
        source,
        size: Number(st.size),
        exec: (st.mode & 0o100n) !== 0n,
        identity: identityOf(st),
      })
      return undefined
    }
    return this.skip(path, st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : 'device')
  }

  /** A link's target when it exists and lies inside the folder (checked on its real path), else skipped. */
  private async insideTarget(disk: string, path: string): Promise<{ source: string; st: BigIntStats } | undefined> {
    let real: string
    try {
      real = await realpath(disk)
    } catch {
      return this.skip(path, 'broken link')
    }
    const rel = relative(this.root, real)
    if (rel === '') return this.skip(path, 'link loop')
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return this.skip(path, 'link outside the folder')
    const st = await lstat(real, { bigint: true }).catch(() => undefined)
    if (st === undefined) return this.skip(path, 'broken link')
    return { source: real, st }
  }

  private add(entry: WalkedEntry): void {
    if (this.entries.length >= this.maxEntries) {
      throw new P2PError(
        'E_TOO_LARGE',
        `${printable(this.root)} holds more than ${this.maxEntries} files and directories: share a smaller folder or raise --max-entries`,
      )
    }
    this.entries.push(entry)
  }

  private skip(path: string, why: SkipReason): undefined {
    this.skippedCount++
    if (this.skipped.length < MAX_REPORTED) this.skipped.push({ path, why })
    return undefined
  }
}
