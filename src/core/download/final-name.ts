import { createHash } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { extname } from 'node:path'
import { MAX_NAME_BYTES } from '../constants.js'
import { shorten } from '../names.js'
import { openRegularFile } from '../safe-fs.js'

/**
 * Claiming a download's final name: the temporary and numbered alternatives
 * (all within 255 bytes), and whether what is there already is the same file.
 */

/** "movie.mkv" → "movie.mkv.part"; a name too long for the suffix is shortened first. */
export function partName(name: string): string {
  return `${shorten(name, MAX_NAME_BYTES - '.part'.length)}.part`
}

/** "movie.mkv" → "movie (1).mkv"; names without an extension (or dotfiles) get the suffix at the end. */
export function numbered(name: string, n: number): string {
  const ext = extname(name)
  const stem = ext && ext !== name ? name.slice(0, -ext.length) : name
  const suffix = stem === name ? ` (${n})` : ` (${n})${ext}`
  if (Buffer.byteLength(suffix) < MAX_NAME_BYTES) return `${shorten(stem, MAX_NAME_BYTES - Buffer.byteLength(suffix))}${suffix}`
  return `${shorten(name, MAX_NAME_BYTES - Buffer.byteLength(` (${n})`))} (${n})` // an extension too long to keep whole
}

/** Both names are one file (a re-run of a finished download finds its own link there). */
export async function sameInode(a: string, b: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([stat(a), stat(b)])
    return x.ino === y.ino && x.dev === y.dev
  } catch {
    return false
  }
}

/** Whether `path` is a regular file (a FIFO or device there is never opened blocking) with these bytes. */
export async function sameContent(path: string, size: number, sha256: string): Promise<boolean> {
  let opened
  try {
    opened = await openRegularFile(path, { maxBytes: size, followSymlinks: true })
    if (opened.stats.size !== size) return false
    const hash = createHash('sha256')
    for await (const piece of opened.handle.createReadStream({ highWaterMark: 4 * 1024 * 1024, autoClose: false })) hash.update(piece as Buffer)
    return hash.digest('hex') === sha256
  } catch {
    return false
  } finally {
    await opened?.handle.close().catch(() => undefined)
  }
}
