import { assertSpace, sameFilesystem } from '../disk.js'
import { type ItemManifest, isTree, layoutOf, planOf } from '../item.js'
import { packedAllocatedBytes, readPackedHave } from '../packed.js'
import type { ChunkStore } from '../store.js'

/**
 * Room for a download before any chunk is fetched, or E_NO_SPACE. The chunks go into the store's `data`
 * (what it holds already is not written again, chunk files are copied into it); a file's final name is a
 * hard link to `data`, or a copy on another filesystem; a folder's files are always copies, which on the
 * store's filesystem need room beside the chunks. A folder's files each take a block of their own in `data`
 * (its last chunk) and in their copy, whatever their size: 4,000 one-byte files took 15.7 MB of `data` while
 * 8 KiB had been reckoned (an attacker pass).
 */
export async function assertRoom(o: {
  store: ChunkStore
  downloadsDir: string
  id: string
  manifest: ItemManifest
  /** Bytes wanted (all, or what --only chose). */
  size: number
  /** Files wanted, for a folder. */
  files: number | undefined
}): Promise<void> {
  const { store, manifest } = o
  const chunkCount = planOf(manifest).chunkCount
  const entry = await store.get(o.id)
  const packed = entry ? ((await readPackedHave(entry.dir, chunkCount))?.count() ?? 0) : 0
  const held = Math.max(packed * manifest.chunkSize, entry ? await packedAllocatedBytes(entry.dir) : 0)
  const chunks = Math.max(0, o.size - held)
  const together = await sameFilesystem(store.root, o.downloadsDir)
  const files = isTree(manifest) ? (o.files ?? layoutOf(manifest).files.length) : 0
  if (isTree(manifest) && together)
    await assertSpace(
      store.root,
      chunks + o.size,
      `the chunks of ${manifest.name} and its copy in downloads`,
      2 * files,
    )
  else {
    await assertSpace(store.root, chunks, `the chunks of ${manifest.name}`, files)
    if (!together) await assertSpace(o.downloadsDir, o.size, manifest.name, files)
  }
}
