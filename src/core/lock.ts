import { mkdir, realpath, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { publishOnce } from './disk.js'
import { fromFsError, hasCode, P2PError } from './errors.js'
import { isAbsent, readRegularFile } from './safe-fs.js'
import { isRunning, sweepStaleTemps } from './stale-temps.js'

/**
 * An advisory lock file holding the owner's pid, so two downloads of one file
 * into one store do not fight over its chunks. A lock whose owner is no
 * longer running (killed with SIGKILL, machine crashed) is taken over.
 * Something else at the lock's path (a FIFO, a link, a directory) is never
 * opened blocking nor followed: the lock fails with E_IO naming it. Two
 * downloads of one file in one process (a library user's) are kept apart
 * too: a lock file holding our own pid is ours only if we took it and have
 * not released it; otherwise it was left by an earlier process that had our
 * pid, and is stale. A lock's temporary file left by a process killed while
 * taking it goes when the next lock in that directory is taken.
 */

/** The locks this process holds, by real path (worker threads each have their own: they are not covered). */
const heldHere = new Set<string>()

export async function acquireLock(path: string, what: string): Promise<() => Promise<void>> {
  await mkdir(dirname(path), { recursive: true }).catch((err: unknown) => {
    throw fromFsError(err, `creating ${dirname(path)}`)
  })
  // One key however the path is spelled (relative, through a linked store root), claimed before anything
  // is awaited: of two downloads in this process, the second is refused without touching the file.
  const dir = await realpath(dirname(path)).catch((err: unknown) => {
    throw fromFsError(err, `locking ${what}`)
  })
  const key = join(dir, basename(path))
  if (heldHere.has(key)) throw locked(what, process.pid, path)
  heldHere.add(key)
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      // The pid is in the file from the moment it has its name (a temp file linked there): a reader never
      // finds it empty and takes it for stale. No fsync: after a crash the lock is stale anyway.
      const taken = await publishOnce(path, `${process.pid}\n`, { sync: false }).catch((err: unknown) => {
        throw fromFsError(err, `locking ${what}`)
      })
      if (taken) {
        await sweepStaleTemps(dir) // a lock's temp file left by a process killed while it took its lock
        let released = false
        return async () => {
          if (released) return
          released = true
          await unlink(path).catch(() => undefined)
          heldHere.delete(key)
        }
      }
      const owner = Number.parseInt(await readOwner(path), 10)
      // Our own pid in a lock this process does not hold: left by an earlier process that had it, so stale.
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isRunning(owner))
        throw locked(what, owner, path)
      await unlink(path).catch(() => undefined) // stale: its owner is gone
    }
    throw new P2PError('E_LOCKED', `could not lock ${what} (${path})`)
  } catch (err) {
    heldHere.delete(key)
    throw err
  }
}

function locked(what: string, owner: number, path: string): P2PError {
  return new P2PError(
    'E_LOCKED',
    `${what} is being downloaded by process ${owner}; wait for it (or stop it) and run again`,
    { pid: owner, lock: path },
  )
}

/** The lock file's text; '' when it vanished or is unreadable (a stale lock). */
async function readOwner(path: string): Promise<string> {
  try {
    return (await readRegularFile(path, { maxBytes: 64 })).toString('utf8')
  } catch (err) {
    if (isAbsent(err) || hasCode(err, 'E_TOO_LARGE')) return ''
    throw fromFsError(err, `reading the lock ${path}`)
  }
}
