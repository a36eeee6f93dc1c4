import type { ChunkStore } from '../index.js'
import type { HeldEntry, PickContext } from './prompt.js'

/**
 * What a download by name looks up in its own chunk store when no peer announced the name (prompt.ts
 * `targetAmong`): a file downloaded before, or split here, is placed from there offline, as `--id` does (a UX audit:
 * by name it needed a live peer); one held in part is named in the error. A scan of the store, once, at that point.
 */
export function pickingInStore(
  store: ChunkStore,
  io: { json: boolean; err: (line: string) => void },
): Pick<PickContext, 'heldInStore' | 'say'> {
  return {
    heldInStore: (name) => heldInStore(store, name),
    say: (line) => {
      if (!io.json) io.err(line)
    },
  }
}

async function heldInStore(store: ChunkStore, name: string): Promise<HeldEntry | undefined> {
  const found = await store.readEntryManifest(name).catch(() => undefined)
  if (found === undefined) return undefined
  const entry = await store.get(found.id)
  return entry && { id: entry.id, held: entry.have.count(), chunks: entry.have.length }
}
