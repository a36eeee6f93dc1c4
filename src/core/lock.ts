import { realpath, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { publishOnce } from './disk.js'
import { fromFsError, hasCode, P2PError } from './errors.js'
import { makeDirectories } from './make-dirs.js'
import { printable } from './printable.js'
import {
  formatStamp,
  type ProcessStamp,
  parseStamp,
  processStamp,
  stampState,
  threadAlive,
  threadOfCaller,
} from './process-stamp.js'
import { isAbsent, readRegularFile } from './safe-fs.js'
import { isRunning, sweepStaleTemps } from './stale-temps.js'

/**
 * An advisory lock file naming its owner, so two downloads of one file into
 * one store do not fight over its chunks, nor a split withdraw the content
 * a download is writing (split.ts, split-tree.ts): its pid and, where /proc tells
 * them, its start time and boot (process-stamp.ts). A lock whose owner no
 * longer runs (killed with SIGKILL, the machine crashed or rebooted, its pid
 * since taken by another process) is taken over, by one process at a time
 * (`takeOver`). Something else at the
 * lock's path (a FIFO, a link, a directory) is never opened blocking nor
 * followed: the lock fails with E_IO naming it. Two downloads of one file in
 * one process (a library user's) are kept apart too, in one thread by
 * `heldHere` and across worker threads by the stamp: a lock naming this very
 * process is held by one of its threads. A worker thread's lock names the
 * thread too (its kernel thread id), so one terminated while it holds a lock
 * leaves it stale, as a killed process does. A lock naming only a
 * pid (written without /proc, or by an earlier version) that is ours is ours
 * only if this thread took it and has not released it; otherwise it was left
 * by an earlier process that had our pid, and is stale. A lock's temporary
 * file left by a process killed while taking it goes when the next lock in
 * that directory is taken.
 */

/** The locks this thread holds, by real path (each worker thread has its own; the lock file's stamp covers them). */
const heldHere = new Set<string>()

export async function acquireLock(
  path: string,
  what: string,
  /** What the holder does, as the refusal says it. */
  doing = 'is being downloaded (or split)',
): Promise<() => Promise<void>> {
  await makeDirectories(dirname(path)).catch((err: unknown) => {
    throw fromFsError(err, `creating ${dirname(path)}`)
  })
  // One key however the path is spelled (relative, through a linked store root), claimed before anything
  // is awaited: of two downloads in this process, the second is refused without touching the file.
  const dir = await realpath(dirname(path)).catch((err: unknown) => {
    throw fromFsError(err, `locking ${what}`)
  })
  const key = join(dir, basename(path))
  if (heldHere.has(key)) throw locked(what, process.pid, path, doing)
  heldHere.add(key)
  try {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      // The pid is in the file from the moment it has its name (a temp file linked there): a reader never
      // finds it empty and takes it for stale. No fsync: after a crash the lock is stale anyway.
      const taken = await publishOnce(path, ownerLine(), { sync: false }).catch((err: unknown) => {
        throw fromFsError(err, `locking ${what}`)
      })
      if (taken) {
        await sweepStaleTemps(dir) // a lock's temp file left by a process killed while it took its lock
        let released = false
        return async () => {
          if (released) return
          released = true
          await unlink(path).catch(() => undefined) // ours: only a holder's own death lets another take it over
          heldHere.delete(key)
        }
      }
      const text = await readOwner(path)
      if (text === undefined) continue // released or taken over meanwhile: publish ours again
      const owner = parseOwner(text)
      if (owner !== undefined && ownerRuns(owner)) throw locked(what, owner.pid, path, doing)
      await takeOver(path) // stale: its owner is gone
    }
    throw new P2PError('E_LOCKED', `could not lock ${what} (${path})`)
  } catch (err) {
    heldHere.delete(key)
    throw err
  }
}

/**
 * acquireLock, asked again every LOCK_RETRY_MS while a live owner holds it, for up to `waitMs` (then its
 * E_LOCKED); the signal is checked between tries. For a lock others hold briefly (a download choosing its
 * entry directory holds its name's for that long).
 */
export async function acquireLockWaiting(
  path: string,
  what: string,
  waitMs: number,
  signal?: AbortSignal,
): Promise<() => Promise<void>> {
  const deadline = performance.now() + waitMs
  for (;;) {
    try {
      return await acquireLock(path, what)
    } catch (err) {
      if (!hasCode(err, 'E_LOCKED') || performance.now() >= deadline) throw err
    }
    await sleep(LOCK_RETRY_MS)
    signal?.throwIfAborted()
  }
}

const LOCK_RETRY_MS = 50

/** Tries to take a lock found stale, each after a takeover (or a wait for another's): a few, then E_LOCKED. */
const MAX_ATTEMPTS = 20
const TAKEOVER_SUFFIX = '.takeover'

/** The most of a lock file read; earlier versions read 64 bytes and took a longer file for a stale lock. */
const MAX_LOCK_BYTES = 64

/**
 * The lock file's text: our stamp (process-stamp.ts) where /proc gives it,
 * then, from a worker thread, the thread's id (the main thread lives as long
 * as the process); whatever fits, else our pid alone. Readers before the
 * thread's id read the first three fields and ignore it.
 */
function ownerLine(): string {
  const me = processStamp()
  const thread = threadOfCaller()
  const lines = me
    ? [thread !== undefined && thread !== me.pid ? `${formatStamp(me)} ${thread}\n` : '', `${formatStamp(me)}\n`]
    : []
  return lines.find((line) => line !== '' && Buffer.byteLength(line) <= MAX_LOCK_BYTES) ?? `${process.pid}\n`
}

interface Owner {
  pid: number
  stamp?: ProcessStamp
  /** The worker thread that holds it, when a worker took it (with a stamp only). */
  thread?: number
}

/** The owner a lock file names: its pid, with its stamp (and thread) when it was written with them. */
function parseOwner(text: string): Owner | undefined {
  const [pid, start, boot, thread] = text.trim().split(' ')
  const owner = Number(pid)
  if (!Number.isSafeInteger(owner) || owner <= 0) return undefined
  const stamp = parseStamp(owner, start, boot)
  if (!stamp) return { pid: owner }
  return thread !== undefined && /^[1-9]\d{0,9}$/.test(thread)
    ? { pid: owner, stamp, thread: Number(thread) }
    : { pid: owner, stamp }
}

/**
 * Whether the lock's owner still runs. With its stamp, where /proc can say:
 * that very process on this boot, even under our own pid (then another
 * thread of this process holds it: this thread's own locks were refused
 * before the file was read), and the worker thread it names, if any, alive
 * in it. Otherwise (a pid alone, from a host without
 * /proc or an earlier version; or a process /proc hides from us) the pid
 * decides: any running process of that pid but ours, as a lock with our
 * pid that this thread does not hold was an earlier process's.
 */
function ownerRuns(owner: Owner): boolean {
  const state = owner.stamp ? stampState(owner.stamp) : 'unknown'
  if (state === 'running' && owner.thread !== undefined) return threadRuns(owner.pid, owner.thread)
  if (state !== 'unknown') return state === 'running'
  return owner.pid !== process.pid && isRunning(owner.pid)
}

/**
 * Whether the worker thread a lock names (in a running process) still runs.
 * One naming this very thread is not ours (this thread's own locks were
 * refused before the file was read): an earlier thread with our id left it.
 */
function threadRuns(pid: number, thread: number): boolean {
  if (pid === process.pid && thread === threadOfCaller()) return false
  return threadAlive(pid, thread)
}

function locked(what: string, owner: number, path: string, doing: string): P2PError {
  return new P2PError(
    'E_LOCKED',
    `${what} ${doing} by process ${owner}; wait for it (or stop it) and run again (its lock: ${printable(path)}, to remove if that process is no p2p command)`,
    { pid: owner, lock: path },
  )
}

/**
 * Remove the lock at `path` if it is still stale. Of several processes
 * finding it stale at once, only the one holding `<lock>.takeover`
 * (published as a lock is, held for microseconds) judges it again and
 * removes it: without that, one could remove the lock another had just
 * taken in its place (an identity would not tell: the new file may get the
 * old one's inode). Under the guard a file that is there cannot change:
 * a lock is published only where none is, and removed only by its live
 * owner or a guard holder. A lock that is not there may be published at any
 * moment, so a guard holder that finds none removes nothing (else it could
 * remove one another process has just published: two holders). A guard whose
 * owner is gone (killed while it held it) is removed; the others wait a
 * moment and look again.
 */
async function takeOver(path: string): Promise<void> {
  const guard = `${path}${TAKEOVER_SUFFIX}`
  if (!(await publishOnce(guard, ownerLine(), { sync: false }).catch(() => false))) {
    // Only a guard that names its owner, gone: one unreadable or absent is being published or has just gone.
    const owner = parseOwner((await readOwner(guard)) ?? '')
    if (owner !== undefined && !ownerRuns(owner)) await unlink(guard).catch(() => undefined)
    await new Promise((r) => setTimeout(r, 2 + Math.random() * 10))
    return
  }
  try {
    // Gone already (another guard holder removed it): nothing to judge, and a lock published from now on is live.
    const text = await readOwner(path)
    if (text === undefined) return
    const owner = parseOwner(text)
    if (owner === undefined || !ownerRuns(owner)) await unlink(path).catch(() => undefined)
  } finally {
    await unlink(guard).catch(() => undefined)
  }
}

/** The lock file's text: undefined when it is gone, '' when it is too large to be a lock (a stale one). */
async function readOwner(path: string): Promise<string | undefined> {
  try {
    return (await readRegularFile(path, { maxBytes: MAX_LOCK_BYTES })).toString('utf8')
  } catch (err) {
    if (isAbsent(err)) return undefined
    if (hasCode(err, 'E_TOO_LARGE')) return ''
    throw fromFsError(err, `reading the lock ${path}`)
  }
}
