import { execFile } from 'node:child_process'
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import { release } from 'node:os'
import { join, sep } from 'node:path'
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
 * syncfs, so it is coreutils' (or busybox's) `sync -f`. It is trusted only
 * on Linux 5.8 or later: before that, syncfs returned 0 even when a write
 * had failed. The price: it also writes what other programs left dirty on
 * that filesystem.
 *
 * Otherwise (another system, an older kernel, no `sync -f`, or it failed)
 * each file is synced: as it is written when no filesystem sync is
 * expected (temp-tree.ts asks `expectFilesystemSync`), else here, at the
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

/** Whether a filesystem sync can be trusted here (Linux 5.8 or later: earlier, syncfs hid write errors). */
export function expectFilesystemSync(platform: string = process.platform, kernel: string = release()): boolean {
  if (platform !== 'linux') return false
  const [major = 0, minor = 0] = kernel.split('.').map((part) => Number.parseInt(part, 10))
  return major > 5 || (major === 5 && minor >= 8)
}

/** syncfs(2) through `sync -f` (coreutils ≥ 8.24, busybox): false when it is missing or fails. */
export const syncFilesystem: SyncFilesystem = (path, signal) =>
  new Promise((resolve, reject) => {
    execFile('sync', ['-f', '--', path], { signal, windowsHide: true }, (err) => {
      if (signal?.aborted) reject(signal.reason)
      else resolve(err === null)
    })
  })

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

export function syncDir(path: string): Promise<void> {
  return syncPath(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW)
}

async function syncPath(path: string, flags: number, dataOnly = false): Promise<void> {
  const handle = await open(path, flags)
  try {
    await (dataOnly ? handle.datasync() : handle.sync())
  } finally {
    await handle.close()
  }
}
