import { createHash, randomBytes } from 'node:crypto'
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/** A folder's content: paths ending in `/` are directories; a file is its size (random bytes) or its text; `x` marks it executable. */
export type TreeSpec = Record<string, number | string | { size: number; exec: true }>

/** The chunk size the sample album is split with: its files end inside, at and across chunks. */
export const ALBUM_CHUNK = 16 * 1024

/** Nested directories, an empty one, empty files, non-ASCII and spaces, an exact chunk multiple, an executable. */
export const ALBUM: TreeSpec = {
  'a/b/c/deep.bin': 3 * ALBUM_CHUNK + 17,
  'a/exact.bin': 2 * ALBUM_CHUNK,
  'a/one chunk.txt': 'hello',
  'empty dir/': 0,
  'empty.txt': '',
  'été/naïve 日本.bin': 40 * 1024,
  'run.sh': { size: 100, exec: true },
  'z/empty inside/': 0,
}

/** Make the folder `spec` describes under `root`. */
export async function makeTree(root: string, spec: TreeSpec): Promise<void> {
  await mkdir(root, { recursive: true })
  for (const [path, what] of Object.entries(spec)) {
    const full = join(root, path)
    if (path.endsWith('/')) {
      await mkdir(full, { recursive: true })
      continue
    }
    await mkdir(dirname(full), { recursive: true })
    const content = typeof what === 'string' ? what : randomBytes(typeof what === 'number' ? what : what.size)
    await writeFile(full, content, { mode: typeof what === 'object' ? 0o755 : 0o644 })
  }
}

/**
 * Every entry under `root`, sorted: `dir/` for a directory, `path size mode sha256` for a file (mode: `x`
 * when its owner may execute it, else `-`), `path -> link` for anything else. What two folders are
 * compared by, byte for byte and file for file.
 */
export async function treeListing(root: string): Promise<string[]> {
  const out: string[] = []
  for (const rel of await readdir(root, { recursive: true })) {
    const st = await lstat(join(root, rel))
    if (st.isDirectory()) out.push(`${rel}/`)
    else if (st.isFile())
      out.push(
        `${rel} ${st.size} ${st.mode & 0o100 ? 'x' : '-'} ${createHash('sha256')
          .update(await readFile(join(root, rel)))
          .digest('hex')}`,
      )
    else out.push(`${rel} (not a regular file)`)
  }
  return out.sort()
}
