import { mkdir, open, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fromFsError, hasCode, P2PError } from './errors.js'
import { isAbsent, readRegularFile } from './safe-fs.js'

/**
 * An advisory lock file holding the owner's pid, so two downloads of one file
 * into one store do not fight over its chunks. A lock whose owner is no
 * longer running (killed with SIGKILL, machine crashed) is taken over.
 * Something else at the lock's path (a FIFO, a link, a directory) is never
 * opened blocking nor followed: the lock fails with E_IO naming it.
 */
export async function acquireLock(path: string, what: string): Promise<() => Promise<void>> {
  await mkdir(dirname(path), { recursive: true }).catch((err: unknown) => {
    throw fromFsError(err, `creating ${dirname(path)}`)
  })
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx')
      await handle.writeFile(`${process.pid}\n`)
      await handle.close()
      return async () => {
        await unlink(path).catch(() => undefined)
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromFsError(err, `locking ${what}`)
    }
    const owner = Number.parseInt(await readOwner(path), 10)
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isRunning(owner)) {
      throw new P2PError(
        'E_LOCKED',
        `${what} is being downloaded by process ${owner}; wait for it (or stop it) and run again`,
        { pid: owner, lock: path },
      )
    }
    await unlink(path).catch(() => undefined) // stale: its owner is gone
  }
  throw new P2PError('E_LOCKED', `could not lock ${what} (${path})`)
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

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
