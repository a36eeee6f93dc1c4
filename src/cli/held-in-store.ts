import { type ChunkStore, isTree, planOf, type StoreEntry, selectEntries } from '../index.js'
import type { HeldEntry, PickContext } from './prompt.js'

/**
 * What a download by name looks up in its own chunk store when no peer announced the name (prompt.ts
 * `targetAmong`): a file downloaded before, or split here, is placed from there offline, as `--id` does (a UX audit:
 * by name it needed a live peer); one held in part is named in the error. A scan of the store, once, at that point.
 *
 * The files the store holds under that name, by the name in their manifests: not the entry directory of that name
 * (a review found `p2p-download ID` place a file of another name, the one whose entry directory is named by its id,
 * and of two files of the name, one downloaded by id beside the other, the one in the directory of the name taken
 * silently, where the LAN says E_AMBIGUOUS). With `--only`, what is held is counted of the chunks it chooses: a
 * folder fetched in part before is placed again offline as `--id` places it.
 */
export function pickingInStore(
  store: ChunkStore,
  io: { json: boolean; err: (line: string) => void; only?: readonly string[] | undefined },
): Pick<PickContext, 'heldInStore' | 'say'> {
  return {
    heldInStore: async (name) =>
      (await store.scan()).filter((entry) => entry.name === name).map((entry) => heldOf(entry, io.only)),
    say: (line) => {
      if (!io.json) io.err(line)
    },
  }
}

function heldOf(entry: StoreEntry, only: readonly string[] | undefined): HeldEntry {
  const { id, have, manifest } = entry
  const whole = { id, size: planOf(manifest).size, held: have.count(), chunks: have.length }
  if (only === undefined || only.length === 0 || !isTree(manifest)) return whole
  let chosen: number[]
  try {
    chosen = selectEntries(manifest, only).chunks.indices()
  } catch {
    return whole // a pattern the download itself refuses, with its own words, once it has the id
  }
  let held = 0
  for (const index of chosen) if (have.get(index)) held++
  return { ...whole, held, chunks: chosen.length }
}
