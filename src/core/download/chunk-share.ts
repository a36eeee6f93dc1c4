/**
 * Which chunks this download should be first to fetch when other downloads
 * of the same file are about: its share, found by rendezvous hashing over
 * the peer IDs of every download announcing the file and its own. Each
 * download computes the same split from the same IDs without a word
 * exchanged, so downloads that started together ask the seeder for
 * different chunks instead of the same ones, and get the rest from each
 * other. Without it each picks at random among the chunks only
 * the seeder has, and picks what another is already fetching (and has not
 * announced yet) about as often as that set is small: at N = 4 the seeder
 * sent 1.3 × the file (docs/benchmarks.md).
 *
 * Only an order among chunks equally rare (chunk-choice.ts), never a reason
 * to wait: a download asks for anything once its share is taken, and a view
 * that differs for a moment (a peer not yet heard) costs a few duplicates,
 * as before. An ID is a claim like any other; a stranger announcing many
 * can only shrink our share, back to the random order.
 */

/** Downloads the split is made over: the lowest IDs, so that every peer picks the same ones. */
export const MAX_SHARE_PEERS = 32
/**
 * A new split at most this often: a split costs the chunk count × the group (50 ms for 400,000 chunks and 32
 * IDs), and a stranger could change the group with every announcement. Until then the last split stands.
 */
export const SHARE_REMAKE_MS = 1000

/**
 * The peers a split is made over (sorted, each once, at most MAX_SHARE_PEERS), or undefined when there is
 * nobody to split with or `self` is not among them.
 */
export function shareGroup(self: string | undefined, others: Iterable<string>): string[] | undefined {
  if (self === undefined) return undefined
  const group = [...new Set([self, ...others])].sort().slice(0, MAX_SHARE_PEERS)
  return group.length > 1 && group.includes(self) ? group : undefined
}

/** A 32-bit FNV-1a hash of a string's UTF-16 code units. */
function seedOf(id: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** The weight of chunk `index` for the peer of `seed`: murmur3's finalizer over both. */
function weight(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/** 1 for each of `count` chunks whose highest weight is `self`'s among `group` (ties: the earlier ID). */
export function ownShare(count: number, group: readonly string[], self: string): Uint8Array {
  const seeds = group.map(seedOf)
  const me = group.indexOf(self)
  const mine = new Uint8Array(count)
  for (let index = 0; index < count; index++) {
    let best = 0
    let bestWeight = -1
    for (let p = 0; p < seeds.length; p++) {
      const w = weight(seeds[p]!, index)
      if (w > bestWeight) {
        best = p
        bestWeight = w
      }
    }
    if (best === me) mine[index] = 1
  }
  return mine
}

/** One download's share as the group of downloads about changes: made again only when the group does. */
export class ChunkShare {
  private made: { group: string; mine: Uint8Array; at: number } | undefined

  constructor(
    private readonly count: number,
    private readonly self: string | undefined,
    private readonly now: () => number,
  ) {}

  /** Our share among `downloads` (their peer IDs) and us, 1 for each of our chunks; none without a group. */
  update(downloads: readonly string[]): Uint8Array | undefined {
    const group = shareGroup(this.self, downloads)
    if (!group || this.self === undefined) return undefined
    const key = group.join(',')
    const now = this.now()
    if (this.made?.group !== key && !(now - (this.made?.at ?? -Infinity) < SHARE_REMAKE_MS))
      this.made = { group: key, mine: ownShare(this.count, group, this.self), at: now }
    return this.made?.mine
  }
}
