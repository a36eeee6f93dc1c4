import type { Bitfield } from '../bitfield.js'
import { CountedLines } from '../counted-lines.js'
import type { Logger } from '../log.js'
import { type ConnectionPool, peerKey } from '../pool.js'
import type { PeerClient } from '../transfer/client.js'
import type { LivePeer, PeerFinder } from './job.js'
import { mergedPath, onePathPerPeer } from './peer-paths.js'
import type { Scheduler } from './scheduler.js'

/** The peer view is looked at no more often than this (ms). */
const REFRESH_MS = 100

export interface LivePeersOptions {
  /** The file's id: the peers offering it are the ones followed. */
  id: string
  peers: PeerFinder
  scheduler: Scheduler
  pool: ConnectionPool<PeerClient>
  log: Logger
  now: () => number
  /**
   * The peer the manifest came from, as listed then: followed from the start with what it claimed then, whatever
   * is heard of it before the first refresh (a forged goodbye or empty claim sent just after its own).
   */
  first?: LivePeer
}

/**
 * What the claims about one path have listed so far: `union` of them all, and the last one seen (with its
 * `changes`; weakly, so a field the dictionary let go of is not kept alive here: up to 2 MiB each).
 */
interface HeardHave {
  union: Bitfield
  last: WeakRef<Bitfield>
  changes: number
}

/**
 * The peers one download fetches from, by pool key: one path per peer
 * (peer-paths.ts), followed as they join, leave and announce new chunks, and
 * told to the scheduler; and the pooled connections of those the scheduler
 * gave up on, closed. The fetch loop (chunk-fetch.ts) asks these for chunks.
 *
 * Announcements are unauthenticated claims that anyone on the LAN can forge
 * under a peer's address, port and ID (outside a private swarm), so the
 * download believes of them only what cannot starve it:
 *   - claims only add: what any claim about a path listed stays listed for the
 *     download, and only the peer itself takes a chunk back, by answering "not
 *     found" over our connection (not asked for it again until that lapses,
 *     peer-record.ts `deny`). A stranger repeating the seeder's announcement with no
 *     chunks in it, 50 times a second, had the download stall between the
 *     seeder's own bursts (40 MiB: 30 s instead of 1 s);
 *   - a path that has delivered in this download (or sent its manifest) stays
 *     followed while it can be asked, though its claims vanish (expiry;
 *     eviction; a goodbye in p2p-listen's dictionary file, forged or not: the
 *     download's own heeds none): it goes once a request to it fails
 *     (a peer that really left has closed its connections) or it is written
 *     off. A forged goodbye every 20 ms had held the same download 14.5 s.
 * A lie that adds chunks costs a request a chunk, answered "not found" (a
 * few rounds of them for a peer that has delivered).
 */
export class LivePeers {
  private byKey = new Map<string, LivePeer>()
  private readonly heard = new Map<string, HeardHave>()
  /** Peers gone from the directory (a stranger's fresh port each datagram: not a line each). */
  private readonly left: CountedLines
  private refreshedAt = -Infinity

  constructor(private readonly o: LivePeersOptions) {
    this.left = new CountedLines(o.log, 'peer left', 'peers left')
    const first = o.first
    if (first === undefined) return
    const key = peerKey(first)
    this.byKey.set(key, first)
    o.scheduler.setPeer(key, this.heardHave(key, first.have), first.peerId)
  }

  keys(): string[] {
    return [...this.byKey.keys()]
  }

  get(key: string): LivePeer | undefined {
    return this.byKey.get(key)
  }

  /** How long until `refresh` looks at the peers again (ms; 0: at once). */
  refreshIn(): number {
    return Math.max(0, this.refreshedAt + REFRESH_MS - this.o.now())
  }

  /** Follow peers joining, leaving and announcing new chunks; at most every REFRESH_MS (it rebuilds the rarity order). */
  refresh(): void {
    if (this.o.now() - this.refreshedAt < REFRESH_MS) return
    this.refreshedAt = this.o.now()
    const listed = this.o.peers.peers(this.o.id)
    const listedKeys = new Set(listed.map(peerKey))
    // Paths whose claims are gone but that still deliver compete with the listed ones for their peer (the choice
    // prefers a usable, proven path): a stranger announcing the peer's ID at another port takes no path from it.
    const delivering = [...this.byKey].filter(([key]) => !listedKeys.has(key) && this.stillDelivering(key))
    const paths = onePathPerPeer([...listed, ...delivering.map(([, p]) => p)], peerKey, {
      usable: (key) => this.o.scheduler.pathUsable(key),
      proven: (key) => this.o.scheduler.isProven(key),
      misses: (key) => {
        const misses = this.o.scheduler.misses(key)
        return Number.isFinite(misses) ? misses : 0
      },
      inUse: (key) => this.byKey.has(key),
    })
    const current = new Map(paths.map((p) => [peerKey(p), p]))
    const pathOf = new Map([...this.byKey].filter(([, p]) => mergedPath(p)).map(([key, p]) => [p.peerId, key]))
    for (const [key, peer] of current) {
      this.o.scheduler.setPeer(key, this.heardHave(key, peer.have), peer.peerId)
      const before = mergedPath(peer) ? pathOf.get(peer.peerId) : undefined
      if (before !== undefined && before !== key) this.o.scheduler.carryPause(before, key)
    }
    this.o.scheduler.expireDenials()
    for (const key of this.byKey.keys()) {
      if (current.has(key)) continue
      this.o.scheduler.removePeer(key)
      this.heard.delete(key)
      this.left.say({ peer: key })
    }
    this.byKey = current
  }

  /** The union of every claim about `key` so far, `have` added (a field of another length is passed on: the scheduler refuses it). */
  private heardHave(key: string, have: Bitfield): Bitfield {
    if (have.length !== this.o.scheduler.count) return have
    const heard = this.heard.get(key)
    if (heard === undefined) {
      const union = have.copy()
      this.heard.set(key, { union, last: new WeakRef(have), changes: have.changes })
      return union
    }
    // The dictionary changes a claim's field in place: add it again only when it changed (a 2^24-chunk field is 2 MiB).
    if (heard.last.deref() !== have || heard.changes !== have.changes) {
      heard.union.add(have)
      heard.last = new WeakRef(have)
      heard.changes = have.changes
    }
    return heard.union
  }

  /** A path whose claims are gone but that this download has seen deliver (or send the manifest), and may ask now. */
  private stillDelivering(key: string): boolean {
    const { scheduler } = this.o
    return scheduler.isProven(key) && scheduler.pathUsable(key) && Number.isFinite(scheduler.readyIn(key))
  }

  /** Peers that stopped delivering past their deadline: their chunks are back with the scheduler; close their connections. */
  async dropOverdue(): Promise<void> {
    if (this.o.scheduler.nextDeadlineIn() > 0) return
    // Deadlines are checked from timers, which run before the reads that were waiting while this process
    // was busy (or descheduled on a loaded machine): let those in first, so what arrived counts.
    await new Promise((resolve) => setImmediate(resolve))
    for (const key of this.o.scheduler.giveUpOverdue()) {
      const peer = this.byKey.get(key)
      this.o.log.info({ peer: key }, 'peer stopped delivering; its chunks go to others')
      if (peer) this.o.pool.closePeer(peer)
    }
  }

  /** Peers written off (nothing delivered within the scheduler's patience): their pooled connections go now. */
  closeWrittenOff(): void {
    for (const key of this.o.scheduler.takeWrittenOff()) {
      this.o.log.warn({ peer: key }, 'peer written off: it gave nothing for too long; nothing more is asked of it')
      const peer = this.byKey.get(key)
      if (peer) this.o.pool.closePeer(peer)
    }
  }
}
