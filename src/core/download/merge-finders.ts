import type { PeerFinder } from './job.js'

/** Several finders as one: every peer any of them offers; a change in any is a change. */
export function mergeFinders(...finders: PeerFinder[]): PeerFinder {
  return {
    peers: (id) => finders.flatMap((f) => f.peers(id)),
    waitForChange: (ms, signal) => Promise.race(finders.map((f) => f.waitForChange(ms, signal))),
    knowChunkCount: (id, chunkCount) => {
      for (const f of finders) f.knowChunkCount?.(id, chunkCount)
    },
  }
}
