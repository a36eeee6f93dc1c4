import { constants } from 'node:fs'
import { copyFile, link, open, unlink } from 'node:fs/promises'
import { tempPathFor } from '../disk.js'
import { readFully } from '../read-fully.js'
import { openRegularFile } from '../safe-fs.js'

/**
 * `data` copied to `path` across filesystems (fsynced; 'taken' when a file already has that name). The copy is
 * made under a temporary name of ours and then linked to `path`: a run killed midway leaves its temporary name,
 * which the next run knows for a cut-short copy (isCutShortCopy), never a `<name>.part` of part of the bytes,
 * which could not be told from a browser's (an attacker pass, fifty-second session: 75 MB left for good).
 */
export async function copyAcross(dataPath: string, path: string): Promise<'made' | 'taken'> {
  const temp = tempPathFor(path)
  try {
    await copyFile(dataPath, temp, constants.COPYFILE_EXCL)
    const copy = await open(temp, 'r')
    try {
      await copy.sync()
    } finally {
      await copy.close()
    }
  } catch (err) {
    // A copy cut short (ENOSPC) is ours: it goes. (EEXIST: a name of ours no one else makes, left by a process
    // that had our pid; not ours to remove.)
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') await unlink(temp).catch(() => undefined)
    throw err
  }
  try {
    await link(temp, path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    return 'taken'
  } finally {
    await unlink(temp).catch(() => undefined)
  }
  return 'made'
}

/** The bytes compared at a time: two buffers of this size, whatever the file's. */
const PIECE_BYTES = 1 << 20

/**
 * Whether `path` is a copy of `dataPath` that a run of ours began and did not finish (killed midway across
 * filesystems, final-name.ts): a regular file of our user's with no other name, not through a symbolic link, no
 * longer than `data`, and byte for byte its beginning. Anything else, or a file that cannot be read, is not.
 */
export async function isCutShortCopy(path: string, dataPath: string): Promise<boolean> {
  let copy: Awaited<ReturnType<typeof openRegularFile>> | undefined
  let data: Awaited<ReturnType<typeof open>> | undefined
  try {
    data = await open(dataPath, 'r')
    const dataSize = (await data.stat()).size
    copy = await openRegularFile(path, { maxBytes: dataSize, followSymlinks: false })
    const { size, uid, nlink } = copy.stats
    if (nlink !== 1 || (process.getuid !== undefined && uid !== process.getuid())) return false
    const ours = Buffer.allocUnsafe(Math.min(PIECE_BYTES, Math.max(size, 1)))
    const theirs = Buffer.allocUnsafe(ours.length)
    for (let at = 0; at < size; at += ours.length) {
      const length = Math.min(ours.length, size - at)
      const [a, b] = await Promise.all([
        readFully(copy.handle.fd, ours, length, at),
        readFully(data.fd, theirs, length, at),
      ])
      if (a !== length || b !== length || !ours.subarray(0, length).equals(theirs.subarray(0, length))) return false
    }
    return true
  } catch {
    return false
  } finally {
    await copy?.handle.close().catch(() => undefined)
    await data?.close().catch(() => undefined)
  }
}
