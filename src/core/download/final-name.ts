import { createHash } from 'node:crypto'
import { open, stat } from 'node:fs/promises'
import { extname } from 'node:path'

/** Claiming a download's final name: the numbered alternatives, and whether what is there already is the same file. */

/** "movie.mkv" → "movie (1).mkv"; names without an extension (or dotfiles) get the suffix at the end. */
export function numbered(name: string, n: number): string {
  const ext = extname(name)
  const stem = ext && ext !== name ? name.slice(0, -ext.length) : name
  return `${stem} (${n})${stem === name ? '' : ext}`
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

export async function sameContent(path: string, size: number, sha256: string): Promise<boolean> {
  try {
    const st = await stat(path)
    if (!st.isFile() || st.size !== size) return false
    const hash = createHash('sha256')
    const handle = await open(path, 'r')
    try {
      for await (const piece of handle.createReadStream({ highWaterMark: 4 * 1024 * 1024 })) hash.update(piece as Buffer)
    } finally {
      await handle.close().catch(() => undefined)
    }
    return hash.digest('hex') === sha256
  } catch {
    return false
  }
}
