import { spawn } from 'node:child_process'
import { constants, existsSync } from 'node:fs'
import { open, statfs } from 'node:fs/promises'
import { release } from 'node:os'
import { dirname, join, resolve, sep } from 'node:path'
import { OPEN_DIR } from '../dir-fd.js'
import { fromFsError } from '../errors.js'
import { makeDirectories } from '../make-dirs.js'
import type { MadeTable } from './made-table.js'

/**
 * A finished temporary tree made durable before it gets its final name: the
 * final name must never hold data a crash can lose.
 *
 * One filesystem sync (syncfs(2)) where it can be had: on this VM's disk an
 * fdatasync costs ~0.5 ms even for a 30 KiB file, so 10,000 small files
 * synced one by one took 5–6 s (8 or 64 at once) where one syncfs of the
 * same tree took 0.4 s, and the per-file syncs also slowed every create
 * beside them (the journal commits they force). Node has no call for
 * syncfs, so it is coreutils' (or busybox's) `sync -f`, trusted only where
 * it reports what fdatasync would (`expectFilesystemSync`). The prices: it
 * also writes what other programs left dirty on that filesystem, and a write
 * error on the tree's files that another program's syncfs reported first
 * is not reported again to ours (an error is reported to each descriptor
 * opened before it, and to the first syncfs after it on one opened later;
 * `sync -f` opens the tree at the end, and Node has no syncfs on a
 * descriptor opened earlier).
 *
 * Otherwise (another system, an older kernel, no `sync -f`, or it failed)
 * each file is synced: as it is written when no filesystem sync is
 * expected (temp-tree.ts asks `filesystemSyncFor`), else here, at the
 * end, 8 at once; then each directory that received entries, once,
 * deepest first (an empty directory is made durable by its parent's fsync:
 * 20,000 empty directories are one fsync).
 */

/** One sync of the filesystem holding `path`: true when it was done and reported success. */
export type SyncFilesystem = (path: string, signal?: AbortSignal) => Promise<boolean>

export interface Durable {
  /** The whole tree made durable by one sync of its filesystem. */
  filesystem: boolean
  /** Files synced one by one here (with no filesystem sync: those written without a sync of their own). */
  files: number
  /** Directories fsynced (with no filesystem sync: those that received entries). */
  dirs: number
}

/** Syncs at once (libuv's pool has 4 threads; the disk merges them). */
const SYNC_AT_ONCE = 8

/**
 * Local filesystems whose syncfs writes and reports what fdatasync of each
 * file would (statfs f_type): ext2/3/4, xfs, btrfs, f2fs. Not FUSE or 9p,
 * where syncfs may not reach the server that fsync reaches.
 */
const SYNCFS_FILESYSTEMS = new Set([0xef53, 0x58465342, 0x9123683e, 0xf2f52010])

/** `sync` by absolute path: a `sync` earlier on PATH that ignored `-f` and exited 0 would be trusted. */
const SYNC_COMMANDS = ['/usr/bin/sync', '/bin/sync']

/**
 * Whether a filesystem sync can be trusted: Linux 5.17 or later (syncfs
 * reports write errors from 5.8 on, and the filesystem's own sync errors
 * from 5.17 on) on a filesystem of SYNCFS_FILESYSTEMS.
 */
export function expectFilesystemSync(platform: string, kernel: string, filesystem: number | bigint): boolean {
  if (platform !== 'linux' || !SYNCFS_FILESYSTEMS.has(Number(filesystem))) return false
  const [major = 0, minor = 0] = kernel.split('.').map((part) => Number.parseInt(part, 10))
  return major > 5 || (major === 5 && minor >= 17)
}

/** The filesystem sync for the tree at `root`, when one can be trusted there (else each file is synced). */
export async function filesystemSyncFor(root: string): Promise<SyncFilesystem | undefined> {
  if (!expectFilesystemSync(process.platform, release(), (await statfs(root)).type)) return undefined
  const command = SYNC_COMMANDS.find((path) => existsSync(path))
  return command === undefined ? undefined : (path, signal) => syncFilesystem(path, signal, command)
}

/**
 * syncfs(2) of the filesystem holding `path` through `sync -f` (coreutils ≥
 * 8.24, busybox): false when it fails. On abort it rejects at once: syncfs
 * cannot be interrupted, so the child is signalled and left to end when its
 * sync returns, without holding this process.
 */
export function syncFilesystem(path: string, signal?: AbortSignal, command = SYNC_COMMANDS[0]!): Promise<boolean> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const child = spawn(command, ['-f', '--', path], { stdio: 'ignore', windowsHide: true })
    const onAbort = (): void => {
      child.kill()
      child.unref()
      reject(signal!.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    const settle = (ok: boolean): void => {
      signal?.removeEventListener('abort', onAbort)
      resolve(ok)
    }
    child.once('error', () => settle(false))
    child.once('exit', (code) => settle(code === 0))
  })
}

export interface DurableTree {
  readonly root: string
  readonly made: MadeTable
}

/**
 * Everything `tree` made on disk: by one filesystem sync when `sync` is given
 * and succeeds, else each file not yet synced (`filesSynced` false) and each
 * directory that received entries. Stops (rejecting) when `signal` aborts.
 */
export async function makeDurable(
  tree: DurableTree,
  o: { sync: SyncFilesystem | undefined; filesSynced: boolean; signal?: AbortSignal | undefined },
): Promise<Durable> {
  if (o.sync !== undefined && (await o.sync(tree.root, o.signal))) return { filesystem: true, files: 0, dirs: 0 }
  const files = o.filesSynced ? 0 : await syncFiles(tree, o.signal)
  return { filesystem: false, files, dirs: await syncParents(tree, o.signal) }
}

/** Every file with bytes, 8 at once, opened without following a link (placing checked each just before). */
async function syncFiles(tree: DurableTree, signal?: AbortSignal): Promise<number> {
  const slots: number[] = []
  for (let slot = 0; slot < tree.made.count; slot++)
    if (!tree.made.isDir(slot) && (tree.made.check(slot)?.size ?? 0) > 0) slots.push(slot)
  for (let i = 0; i < slots.length; i += SYNC_AT_ONCE) {
    signal?.throwIfAborted()
    await Promise.all(
      slots
        .slice(i, i + SYNC_AT_ONCE)
        .map((slot) =>
          syncPath(join(tree.root, tree.made.local(slot)), constants.O_RDONLY | constants.O_NOFOLLOW, true),
        ),
    )
  }
  return slots.length
}

/** Each directory that received an entry, once, deepest first, 8 at once within one depth. */
async function syncParents(tree: DurableTree, signal?: AbortSignal): Promise<number> {
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

/**
 * `dir` made with any parents missing, each new one synced into its parent: a file named in a directory the
 * download made must not lose that directory at a power loss (the name's own sync covers only its entry in `dir`).
 */
export async function mkdirDurable(dir: string): Promise<void> {
  const created = await makeDirectories(dir)
  if (created === undefined) return
  const first = resolve(created)
  for (let made = resolve(dir); ; made = dirname(made)) {
    await syncUserDir(dirname(made))
    if (made === first || dirname(made) === made) return
  }
}

/**
 * A directory of the user's path synced, followed if it is a link (`~/dl` linked elsewhere is the user's
 * choice; the store's own directories are opened never through one: syncDir). One that cannot be opened
 * (searchable but not readable) or synced (a filesystem without directory fsync) is left as it is: its
 * entry is as durable as that filesystem makes it. Any other failure is E_IO naming it.
 */
export async function syncUserDir(path: string): Promise<void> {
  try {
    await syncPath(path, constants.O_RDONLY | constants.O_DIRECTORY)
  } catch (err) {
    if (!BEST_EFFORT.has((err as NodeJS.ErrnoException).code ?? '')) throw fromFsError(err, `syncing ${path}`)
  }
}

const BEST_EFFORT = new Set(['EACCES', 'EPERM', 'EINVAL', 'ENOTSUP', 'EOPNOTSUPP'])

function syncDir(path: string): Promise<void> {
  return syncPath(path, OPEN_DIR)
}

async function syncPath(path: string, flags: number, dataOnly = false): Promise<void> {
  const handle = await open(path, flags)
  try {
    await (dataOnly ? handle.datasync() : handle.sync())
  } finally {
    await handle.close()
  }
}
