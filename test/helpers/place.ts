import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpDir } from './files.js'

/** A store entry and a downloads directory for a folder `album`, and what a temporary tree of it is made with. */
export async function placeSetup(t: Parameters<typeof tmpDir>[0]) {
  const base = await tmpDir(t)
  const entry = join(base, 'chunks', 'album')
  await mkdir(entry, { recursive: true })
  const downloads = join(base, 'downloads')
  const options = {
    ...{ downloadsDir: downloads, name: 'album', recordPath: join(entry, 'tree.part') },
    ...{ storeRoot: join(base, 'chunks'), syncFilesystem: false as const },
  }
  return { entry, downloads, options }
}
