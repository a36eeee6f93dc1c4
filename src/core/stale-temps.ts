import { lstat, readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { TEMP_MARKER } from './constants.js'

/**
 * Temporary files (disk.ts `tempPathFor`: `<name>.tmp-<pid>-<8 hex>`) left
 * by a process that was killed before it could remove them: a chunk being
 * replaced, a manifest, a lock, the private copy of a whole `data` file. One
 * is stale when the process named in it is no longer running; one whose
 * process runs (its writer still at work, or an unrelated process that got
 * the pid since) is left alone.
 */

const TEMP_NAME = new RegExp(`${TEMP_MARKER.replace('.', '\\.')}(\\d+)-[0-9a-f]{8}$`)

/** The pid a temporary file's name holds, if it is one (`tempPathFor`'s form). */
export function tempOwner(name: string): number | undefined {
  const m = TEMP_NAME.exec(name)
  const pid = m ? Number(m[1]) : Number.NaN
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
}

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
export async function sweepStaleTemps(dir: string, running: (pid: number) => boolean = isRunning): Promise<number> {
  const names = await readdir(dir).catch(() => [])
  let removed = 0
  for (const name of names) {
    const pid = tempOwner(name)
    if (pid === undefined || pid === process.pid || running(pid)) continue
    const path = join(dir, name)
    const isFile = await lstat(path).then(
      (st) => st.isFile(),
      () => false,
    )
    if (
      isFile &&
      (await unlink(path).then(
        () => true,
        () => false,
      ))
    )
      removed++
  }
  return removed
}
