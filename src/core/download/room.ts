import { assertSpace, sameFilesystem } from '../disk.js'
import { type ItemManifest, isTree, planOf } from '../item.js'
import { packedAllocatedBytes, readPackedHave } from '../packed.js'
import type { ChunkStore } from '../store.js'
import { isDir, type TreeManifest } from '../tree-manifest.js'

/**
 * Room for a download before any chunk is fetched, or E_NO_SPACE. The chunks go into the store's `data`
 * (what it holds already is not written again, chunk files are copied into it); a file's final name is a
 * hard link to `data`, or a copy on another filesystem; a folder's files are always copies, which on the
 * store's filesystem need room beside the chunks. A folder's files are reckoned in whole blocks, in `data`
 * (each file's chunks start at a chunk of their own) and in their copy: 4,000 one-byte files took 15.7 MB of
 * `data` where 8 KiB had been reckoned (an attacker pass); a block more per file asked twice what 1,000 files
 * of one block take (the attack on that).
 */
export async function assertRoom(o: {
  store: ChunkStore
  downloadsDir: string
  id: string
  manifest: ItemManifest
  /** Bytes wanted (all, or what --only chose). */
  size: number
  /** What --only chose of a folder's entries (by index), when it chose. */
  chosen: readonly boolean[] | undefined
}): Promise<void> {
  const { store, manifest } = o
  const chunkCount = planOf(manifest).chunkCount
  const entry = await store.get(o.id)
  const packed = entry ? ((await readPackedHave(entry.dir, chunkCount))?.count() ?? 0) : 0
  const held = Math.max(packed * manifest.chunkSize, entry ? await packedAllocatedBytes(entry.dir) : 0)
  const together = await sameFilesystem(store.root, o.downloadsDir)
  // A file's bytes; a folder's, each file rounded up to whole blocks of the filesystem's size.
  const bytes = (block: number): number => (isTree(manifest) ? inBlocks(manifest, o.chosen, block) : o.size)
  const chunks = (block: number): number => Math.max(0, bytes(block) - held)
  if (isTree(manifest) && together)
    await assertSpace(
      store.root,
      (block) => chunks(block) + bytes(block),
      `the chunks of ${manifest.name} and its copy in downloads`,
    )
  else {
    await assertSpace(store.root, chunks, `the chunks of ${manifest.name}`)
    if (!together) await assertSpace(o.downloadsDir, bytes, manifest.name)
  }
}

/** The chosen files' sizes, each rounded up to whole blocks (an empty file takes none). */
function inBlocks(manifest: TreeManifest, chosen: readonly boolean[] | undefined, block: number): number {
  let total = 0
  manifest.entries.forEach((entry, i) => {
    if (!isDir(entry) && chosen?.[i] !== false) total += Math.ceil(entry.size / block) * block
  })
  return total
}
