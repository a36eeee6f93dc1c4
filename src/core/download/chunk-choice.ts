import { ChunkCounts, type Holder } from './chunk-counts.js'
import type { ChunkShare } from './chunk-share.js'
import type { PeerPace } from './peer-pace.js'
import { RarityOrder, rankOrder } from './rarity-order.js'

/**
 * Which chunk a peer that may be asked should be asked for (the scheduler
 * decides whether it may): the chunks done, who is fetching which, and the
 * three ways to pick, in this order —
 *
 * - hedge: the oldest chunk stuck at an overdue peer that this peer has too
 *   (asked of both, first verified copy wins);
 * - rarest first: among the chunks this peer has that nobody is fetching,
 *   the one the fewest live peers have; ties go to the lowest index, so a
 *   download from complete seeders arrives nearly in order (the whole-file
 *   hash then reads from memory, not from disk). Once a peer holding less
 *   than the whole file is seen (another download, perhaps with nothing
 *   yet), ties go instead in an order of our own, drawn at random, as
 *   BitTorrent breaks them: downloads
 *   that started together from one seeder would otherwise fetch the same
 *   chunks in the same order and have nothing to give each other, and a
 *   random start alone puts each download just behind another's cursor,
 *   fetching from the seeder what the other fetches and has not announced
 *   yet. One partial have-set is enough to switch, a stranger's too: the
 *   cost is only that the whole-file hash reads chunks that came early back
 *   from the page cache. While such peers are about, a peer holding every
 *   chunk is a seeder in a swarm (`isSeederInSwarm`): the fetch loop fills
 *   the others' windows first, so a seeder is asked for what only it has
 *   and for what the others could not take; among chunks equally rare, our
 *   share of the file among the downloads about (chunk-share.ts) comes
 *   first, so that downloads that started together ask a seeder for
 *   different chunks, not the ones another just fetched and has not
 *   announced yet;
 * - endgame: when every missing chunk is being fetched, a nearly idle peer
 *   helps with one already in flight elsewhere (at most `endgameRequests`
 *   peers per chunk).
 *
 * How many peers hold each chunk is kept by chunk-counts.ts as have-sets
 * change (a changed bit costs that bit, not every chunk × every peer); the
 * order is made from those counts by rarity-order.ts, and a new order keeps
 * each peer's place in its walk.
 *
 * Pure state, no I/O; every time is passed in.
 */

/** What the choice reads of a peer (the scheduler's record of it). */
export interface Candidate extends Holder {
  readonly key: string
  /** The peer ID it announced, if any: downloads split what they ask of a seeder by it (chunk-share.ts). */
  peerId?: string | undefined
  /** Whether the peer said "not found" for the chunk: not asked again, whatever it announces. */
  denies(index: number): boolean
  readonly pace: PeerPace
  /** Where its walk through the rarity order resumes. */
  cursor: number
}

/** Missing chunks no live, unbanned peer has: how many, their bytes, the first few (no list: there may be 400,000). */
export interface Unavailable {
  chunks: number
  bytes: number
  first: number[]
}

/** The peer has the chunk and did not deny it. */
export const holds = (peer: Candidate, index: number): boolean => peer.have.get(index) && !peer.denies(index)

/** An endgame request goes only to a peer with fewer requests than this in flight. */
const ENDGAME_MAX_PER_PEER = 2

export class ChunkChoice {
  private readonly done: Uint8Array
  private remainingCount: number
  /** Chunk → the peers it is requested from. */
  private readonly requesters = new Map<number, Set<string>>()
  private orderStale = true
  /** Peers holding every chunk while a peer holding part of the file is about, as of the last rarity order. */
  private seedersInSwarm = new Set<string>()
  /** How ties in rarity are broken (see above): by index until a partial peer is seen (none), then by a random rank per chunk, kept. */
  private ties: Uint32Array | undefined
  private readonly counts: ChunkCounts
  private readonly rarity: RarityOrder
  /** Chunks in flight at overdue peers, oldest request first; recomputed at most once per clock tick. */
  private hedgeable: { at: number; chunks: Array<{ index: number; key: string; at: number }> } = {
    at: -Infinity,
    chunks: [],
  }

  /** `peers`: the live peers, the scheduler's own map (read here, never changed). */
  constructor(
    readonly count: number,
    private readonly peers: ReadonlyMap<string, Candidate>,
    private readonly endgameRequests: number,
    private readonly random: () => number = Math.random,
    /** Our share of the chunks among the downloads about (chunk-share.ts); none: no share. */
    private readonly share?: ChunkShare,
  ) {
    this.done = new Uint8Array(count)
    this.remainingCount = count
    this.counts = new ChunkCounts(count)
    this.rarity = new RarityOrder(count)
  }

  get finished(): boolean {
    return this.remainingCount === 0
  }

  isDone(index: number): boolean {
    return this.done[index] === 1
  }

  markDone(index: number): void {
    if (this.done[index]) return
    this.done[index] = 1
    this.remainingCount--
  }

  /** Peers joined, left, were banned or announced chunks: the rarity order is rebuilt before the next pick. */
  invalidate(): void {
    this.orderStale = true
  }

  /** The chunk to ask of `peer` now (assigned to it), or undefined when none fits. */
  pick(peer: Candidate, now: number): number | undefined {
    const hedge = this.hedgePick(peer, now)
    if (hedge !== undefined) return this.assign(peer, hedge, now)
    if (this.orderStale) this.rebuildOrder()
    for (; peer.cursor < this.rarity.size; peer.cursor++) {
      const index = this.rarity.at(peer.cursor)
      if (!this.done[index] && !this.requesters.has(index) && holds(peer, index)) return this.assign(peer, index, now)
    }
    return this.endgamePick(peer, now)
  }

  /** `key` holds every chunk while another peer holds only part of the file (see above). */
  isSeederInSwarm(key: string): boolean {
    if (this.orderStale) this.rebuildOrder()
    return this.seedersInSwarm.has(key)
  }

  /** `key` no longer fetches `index` (its request ended); a chunk nobody fetches any more is free for every peer again. */
  unassign(key: string, index: number): void {
    const set = this.requesters.get(index)
    if (!set) return
    set.delete(key)
    if (set.size === 0) {
      this.requesters.delete(index)
      // The chunk is free again: peers whose cursor passed it look again from there. Back to the start
      // instead, a peer denying 200,000 chunks one by one made every pick walk the whole order (O(n²)).
      const at = this.rarity.positionOf(index)
      if (at >= 0) for (const p of this.peers.values()) p.cursor = Math.min(p.cursor, at)
    }
  }

  /** `index` is verified (from `key`): done. Returns the other peers still fetching it (duplicates to ignore). */
  complete(key: string, index: number): string[] {
    const others = [...(this.requesters.get(index) ?? [])].filter((k) => k !== key)
    this.requesters.delete(index)
    this.markDone(index)
    return others
  }

  /** Missing chunks that no live, unbanned peer has (`lengthOf`: a chunk's bytes); the first five listed. */
  unavailable(lengthOf: (index: number) => number): Unavailable {
    this.counts.refresh(this.peers)
    const found: Unavailable = { chunks: 0, bytes: 0, first: [] }
    for (let i = 0; i < this.count; i++) {
      if (this.done[i] || this.counts.usableOf(i) > 0) continue
      found.chunks++
      found.bytes += lengthOf(i)
      if (found.first.length < 5) found.first.push(i)
    }
    return found
  }

  private assign(peer: Candidate, index: number, now: number): number {
    peer.pace.request(index, now)
    let set = this.requesters.get(index)
    if (!set) {
      set = new Set()
      this.requesters.set(index, set)
    }
    set.add(peer.key)
    return index
  }

  /** The oldest chunk stuck at an overdue peer that this peer has and may fetch as well. */
  private hedgePick(peer: Candidate, now: number): number | undefined {
    if (this.hedgeable.at !== now) {
      const chunks: Array<{ index: number; key: string; at: number }> = []
      for (const p of this.peers.values()) {
        if (!p.pace.overdue(now)) continue
        for (const [index, at] of p.pace.inFlight)
          if (!this.done[index] && p.pace.isAwaited(index)) chunks.push({ index, key: p.key, at })
      }
      this.hedgeable = { at: now, chunks: chunks.sort((a, b) => a.at - b.at) }
    }
    for (const { index, key } of this.hedgeable.chunks) {
      const set = this.requesters.get(index)
      if (
        this.done[index] ||
        !set?.has(key) ||
        set.has(peer.key) ||
        set.size >= this.endgameRequests ||
        !holds(peer, index)
      )
        continue
      if (this.peers.get(key)?.pace.overdue(now)) return index // still overdue (it may have delivered since the list was made)
    }
    return undefined
  }

  /**
   * Every chunk is taken: help with one already in flight elsewhere, fewest
   * requesters first — only when this peer is nearly idle, so deep pipelines
   * do not turn the end of every download into duplicate traffic.
   */
  private endgamePick(peer: Candidate, now: number): number | undefined {
    if (peer.pace.inFlight.size >= ENDGAME_MAX_PER_PEER) return undefined
    let best: number | undefined
    let bestCount = Infinity
    for (const [index, set] of this.requesters) {
      if (set.has(peer.key) || set.size >= this.endgameRequests || !holds(peer, index)) continue
      if (set.size < bestCount) {
        best = index
        bestCount = set.size
      }
    }
    if (best === undefined) return undefined
    // Only when nothing unassigned is left for anyone: endgame, not greed.
    this.counts.refresh(this.peers)
    for (let i = 0; i < this.count; i++)
      if (!this.done[i] && this.counts.usableOf(i) > 0 && !this.requesters.has(i)) return undefined
    return this.assign(peer, best, now)
  }

  private rebuildOrder(): void {
    this.counts.refresh(this.peers)
    let partialPeer = false
    const complete: string[] = []
    const downloads: string[] = [] // peer IDs of those holding less than every chunk
    for (const p of this.peers.values()) {
      if (p.banned) continue
      if (this.counts.heldBy(p.key) === this.count) complete.push(p.key)
      else {
        partialPeer = true // another download, even one with nothing yet
        if (p.peerId !== undefined) downloads.push(p.peerId)
      }
    }
    this.seedersInSwarm = new Set(partialPeer ? complete : [])
    if (partialPeer && this.ties === undefined) {
      const ranks = new Uint32Array(this.count)
      for (let i = 0; i < this.count; i++) ranks[i] = Math.floor(this.random() * 2 ** 32)
      this.ties = rankOrder(ranks)
    }
    const mine = partialPeer ? this.share?.update(downloads) : undefined
    const { ties, done, counts } = this
    this.rarity.make({ ties, done, mine, holdersOf: (i) => counts.holdersOf(i) })
    const changed = this.counts.takeChanged()
    for (const p of this.peers.values()) p.cursor = changed.has(p.key) ? 0 : this.resumeAt(p)
    this.orderStale = false
  }

  /**
   * Where the peer's walk resumes in a new order: every chunk before it was
   * no use to the peer (rarity-order.ts), as at the start of the walk, so the
   * chunk it is given is the one a walk from the start would find. A peer
   * whose have-set changed starts again from the start.
   */
  private resumeAt(peer: Candidate): number {
    const moved = this.rarity.moved
    if (moved === undefined) return 0
    let at = this.rarity.resumeAt(peer.cursor)
    for (const index of moved) {
      const place = this.rarity.positionOf(index)
      if (place < at && holds(peer, index)) at = place
    }
    return at
  }
}
