import fs from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { TempTree } from '../../src/core/download/temp-tree.js'
import { tmpDir } from './files.js'
import { sha } from './packed-writer.js'

/** A store entry and a downloads directory for a folder `album`, and what a temporary tree of it is made with. */
export async function setup(t: Parameters<typeof tmpDir>[0]) {
  const base = await tmpDir(t)
  const store = join(base, 'chunks')
  const entry = join(store, 'album')
  await mkdir(entry, { recursive: true })
  const downloads = join(base, 'downloads')
  const options = { downloadsDir: downloads, name: 'album', recordPath: join(entry, 'tree.part'), storeRoot: store }
  return { base, store, entry, downloads, options }
}

/** A file of the folder written into the tree as a download writes it. */
export function put(tree: TempTree, path: string, content: string): Promise<void> {
  return tree.addWrittenFile(path, false, { size: Buffer.byteLength(content), sha256: sha(content) }, async (fd) => {
    fs.writeSync(fd, content)
  })
}
