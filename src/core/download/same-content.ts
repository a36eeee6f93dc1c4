import { createHash } from 'node:crypto'
import { constants, fstatSync, openSync } from 'node:fs'
import { readFullySync } from '../read-fully.js'
import { closeQuietly, openRegularFile } from '../safe-fs.js'

/** Files up to this size are checked with synchronous calls: a folder's 10,000 small files were ~5 s of round trips. */
const SMALL_FILE = 1024 * 1024
let scratch: Buffer | undefined

/**
 * Whether `path` is a regular file (not through a symbolic link; a FIFO or device there is never opened blocking)
 * with these bytes; with `ours`, also one of our user's (checked on the file opened). A file of at most a MiB is
 * read in one synchronous call: callers checking many let the event loop run between them (made-table.ts breather).
 */
export async function sameContent(
  path: string,
  size: number,
  sha256: string,
  /**
   * `oneLink`: a file with no other name (checked on the file opened, as `ours` is); `signal`: heard between
   * pieces, its reason thrown, never taken for other bytes.
   */
  options: { ours?: boolean; oneLink?: boolean; signal?: AbortSignal } = {},
): Promise<boolean> {
  if (size <= SMALL_FILE) {
    options.signal?.throwIfAborted()
    return sameSmallContent(path, size, sha256, options)
  }
  let opened: Awaited<ReturnType<typeof openRegularFile>> | undefined
  try {
    opened = await openRegularFile(path, { maxBytes: size, followSymlinks: false })
    if (!fits(opened.stats, size, options)) return false
    const hash = createHash('sha256')
    // A buffer of the file's size, up to 4 MiB: 4 MiB for each small file had a folder's check spend its time in GC.
    const highWaterMark = Math.min(4 * 1024 * 1024, size)
    for await (const piece of opened.handle.createReadStream({ highWaterMark, autoClose: false })) {
      options.signal?.throwIfAborted()
      hash.update(piece as Buffer)
    }
    return hash.digest('hex') === sha256
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason
    return false
  } finally {
    await opened?.handle.close().catch(() => undefined)
  }
}

function sameSmallContent(path: string, size: number, sha256: string, options: { ours?: boolean; oneLink?: boolean }) {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW)
  } catch {
    return false
  }
  try {
    if (!fits(fstatSync(fd), size, options)) return false
    scratch ??= Buffer.allocUnsafe(SMALL_FILE + 1)
    // One byte more than the size: a file grown since its fstat is not taken for these bytes.
    const read = readFullySync(fd, scratch, size + 1, 0)
    return read === size && createHash('sha256').update(scratch.subarray(0, size)).digest('hex') === sha256
  } catch {
    return false
  } finally {
    closeQuietly(fd)
  }
}

function fits(
  stats: { isFile(): boolean; size: number; uid: number; nlink: number },
  size: number,
  options: { ours?: boolean; oneLink?: boolean },
): boolean {
  const uid = process.getuid?.()
  if (!stats.isFile() || stats.size !== size) return false
  if (options.ours && uid !== undefined && stats.uid !== uid) return false
  return !options.oneLink || stats.nlink === 1
}
