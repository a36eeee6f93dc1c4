import { lstat, readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { tempOwner } from './disk.js'

/**
 * Temporary files (disk.ts `tempPathFor`: `<name>.tmp-<pid>-<8 hex>`) left
 * by a process that was killed before it could remove them: a chunk being
 * replaced, a manifest, a lock, the private copy of a whole `data` file. One
 * is stale when the process named in it is not running here and the file
 * has not been written for STALE_AFTER_MS: a process of another pid
 * namespace (a container, another host sharing the store) may look dead
 * from here while it writes, and a writer changes its file's mtime as it
 * goes. One whose pid runs (its writer at work, or an unrelated process
 * that got the pid since) is left alone: litter rather than a live file lost.
 */

/** How long a dead process's temporary file must have been left unwritten before it goes. */
export const STALE_AFTER_MS = 10 * 60_000

/** Whether process `pid` is running (one we may not signal is). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Remove the stale temporary files directly in `dir` (regular files only:
 * a link or a directory of that name is not ours). Best effort: a file that
 * cannot be removed stays, and is tried again next time. Returns how many went.
 */
export async function sweepStaleTemps(
  dir: string,
  running: (pid: number) => boolean = isRunning,
  now: number = Date.now(),
): Promise<number> {
  const names = await readdir(dir).catch(() => [])
  let removed = 0
  for (const name of names) {
    const pid = tempOwner(name)
    if (pid === undefined || pid === process.pid || running(pid)) continue
    const path = join(dir, name)
    const st = await lstat(path).catch(() => undefined)
    if (st === undefined || !st.isFile() || now - st.mtimeMs < STALE_AFTER_MS) continue
    const gone = await unlink(path).then(
      () => true,
      () => false,
    )
    if (gone) removed++
  }
  return removed
}
