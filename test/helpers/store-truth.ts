import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { planOf } from '../../src/core/item.js'
import { sha256Hex } from '../../src/core/manifest.js'
import type { ChunkStore } from '../../src/core/store.js'

/** Every chunk file an entry of the store lists (its have-set) holds what that entry's manifest says. */
export async function assertEveryListedChunkTrue(store: ChunkStore): Promise<void> {
  for (const entry of await store.scan()) {
    const plan = planOf(entry.manifest)
    for (let i = 0; i < plan.chunkCount; i++) {
      if (!entry.have.get(i)) continue
      const bytes = await readFile(store.chunkPath(entry.dir, i))
      assert.equal(sha256Hex(bytes), plan.chunkHash(i), `${entry.name}: chunk ${i} is not the manifest's`)
    }
  }
}

/** After a split that replaced other content: it gave its lock back, and the only verified record is the new content's. */
export async function assertReplacedCleanly(store: ChunkStore, id: string): Promise<void> {
  assert.deepEqual(await readdir(join(store.root, '.p2p', 'locks')), [], 'the split gave its lock back')
  assert.deepEqual(await readdir(join(store.root, '.p2p', 'verified')), [id], "the replaced content's record gone")
}
