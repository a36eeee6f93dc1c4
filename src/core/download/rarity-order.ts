/**
 * The rarity order chunk-choice.ts walks: the chunks not done that some
 * peer has, fewest holders first; among chunks equally rare, ours
 * (chunk-share.ts) first, then the tie order (by index, or by a random rank
 * per chunk drawn once).
 *
 * A comparison sort of 480,000 chunks costs a few hundred milliseconds, and
 * the order is made again whenever a peer's holding changes. The tie order
 * is sorted once, when the ranks are drawn; each order after that is a
 * counting sort over it (holders and share as one small key), which keeps
 * the tie order among equal keys: a few passes over the chunks, no
 * comparison.
 *
 * Each peer walks the order from a cursor; every chunk before it was no use
 * to the peer. Sent back to the start at every new order, 256 peers walking
 * 65,536 chunks again ten times a second cost what counting once did. So a
 * new order says where each old place resumes (`resumeAt`): chunks whose
 * key did not change keep their order among themselves, and only those that
 * moved (`moved`) can come before a walk's old place.
 */

/**
 * Chunk indices by rank, lowest first (equal ranks: lowest index first).
 * Once per download; a radix sort, 16 bits at a time from index order,
 * each pass stable.
 */
export function rankOrder(ranks: Uint32Array): Uint32Array {
  let from = new Uint32Array(ranks.length)
  for (let i = 0; i < from.length; i++) from[i] = i
  let to = new Uint32Array(ranks.length)
  for (const shift of [0, 16]) {
    const starts = new Uint32Array(0x10001)
    for (let at = 0; at < from.length; at++) starts[((ranks[from[at]!]! >>> shift) & 0xffff) + 1]!++
    for (let digit = 1; digit < starts.length; digit++) starts[digit]! += starts[digit - 1]!
    for (let at = 0; at < from.length; at++) {
      const index = from[at]!
      to[starts[(ranks[index]! >>> shift) & 0xffff]!++] = index
    }
    ;[from, to] = [to, from]
  }
  return from
}

export interface OrderInput {
  /** Every chunk once, in the order ties are broken; none: index order. */
  readonly ties: Uint32Array | undefined
  readonly done: Uint8Array
  /** How many peers hold the chunk (0: left out). */
  holdersOf(index: number): number
  /** 1 for each chunk of our share; none: no share. */
  readonly mine: Uint8Array | undefined
}

/**
 * The order, made again and again into the same buffers (two of each, this
 * order's and the last): memory touched for the first time costs a page
 * fault per 4 KiB, more than the sort.
 */
export class RarityOrder {
  /** Per chunk: 2 × holders, + 1 when it is not ours; 0 for a chunk left out (done, or nobody has it). */
  private keys: Uint32Array
  private lastKeys: Uint32Array
  private order: Uint32Array
  private lastOrder: Uint32Array
  private length = 0
  private lastLength = 0
  private lastTies: Uint32Array | undefined
  /** Chunk → its place in the order (-1: not in it). */
  private readonly position: Int32Array
  /** Place in the last order → where a walk that had reached it resumes in this one. */
  private readonly resume: Uint32Array
  /** Most chunks listed in `moved`: past it, re-checking them for every peer would cost more than the walks saved. */
  private readonly movedMax: number
  /** Chunks in this order whose key changed since the last (or came in); undefined when more than `movedMax` did, or the ties changed. */
  moved: number[] | undefined = []

  constructor(readonly count: number) {
    this.keys = new Uint32Array(count)
    this.lastKeys = new Uint32Array(count)
    this.order = new Uint32Array(count)
    this.lastOrder = new Uint32Array(count)
    this.position = new Int32Array(count).fill(-1)
    this.resume = new Uint32Array(count + 1)
    this.movedMax = Math.max(64, count >>> 4)
  }

  get size(): number {
    return this.length
  }

  /** The chunk at `place` in the order. */
  at(place: number): number {
    return this.order[place]!
  }

  /** The chunk's place in the order (-1: not in it). */
  positionOf(index: number): number {
    return this.position[index]!
  }

  /**
   * Where a walk that had reached `place` in the last order resumes in this
   * one, before looking at `moved`: every chunk before it that did not move
   * came before `place` in the last order too.
   */
  resumeAt(place: number): number {
    return this.resume[Math.min(place, this.lastLength)]!
  }

  /** Makes the order anew (see above) from the counts as they are now. */
  make({ ties, done, holdersOf, mine }: OrderInput): void {
    ;[this.keys, this.lastKeys] = [this.lastKeys, this.keys]
    ;[this.order, this.lastOrder] = [this.lastOrder, this.order]
    this.lastLength = this.length
    const { count, keys, lastKeys, order, position } = this
    let maxKey = 0
    const moved: number[] = []
    let movedMany = false
    for (let i = 0; i < count; i++) {
      const holders = done[i] ? 0 : holdersOf(i)
      const key = holders === 0 ? 0 : 2 * holders + (mine && mine[i] === 1 ? 0 : 1)
      keys[i] = key
      if (key > maxKey) maxKey = key
      if (key === 0 || key === lastKeys[i] || movedMany) continue
      moved.push(i)
      movedMany = moved.length > this.movedMax
    }
    // New ties reorder chunks whatever their keys.
    this.moved = movedMany || ties !== this.lastTies ? undefined : moved
    this.lastTies = ties
    // Where each key's chunks start in the order.
    const starts = new Uint32Array(maxKey + 2)
    for (let i = 0; i < count; i++) if (keys[i] !== 0) starts[keys[i]! + 1]!++
    for (let key = 1; key < starts.length; key++) starts[key]! += starts[key - 1]!
    this.length = starts[maxKey + 1]!
    position.fill(-1)
    for (let at = 0; at < count; at++) {
      const index = ties ? ties[at]! : at
      const key = keys[index]!
      if (key === 0) continue
      position[index] = starts[key]!
      order[starts[key]!++] = index
    }
    this.markResumes()
  }

  /** From the end of the last order: each place resumes at the next chunk there whose key is unchanged. */
  private markResumes(): void {
    const { keys, lastKeys, lastOrder, position, resume } = this
    resume[this.lastLength] = this.length
    for (let at = this.lastLength - 1; at >= 0; at--) {
      const index = lastOrder[at]!
      const kept = keys[index] !== 0 && keys[index] === lastKeys[index]
      resume[at] = kept ? position[index]! : resume[at + 1]!
    }
  }
}
