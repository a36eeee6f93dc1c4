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
}

/**
 * The peers one download fetches from, by pool key: one path per peer
 * (peer-paths.ts), followed as they join, leave and announce new chunks, and
 * told to the scheduler; and the pooled connections of those the scheduler
 * gave up on, closed. The fetch loop (chunk-fetch.ts) asks these for chunks.
 */
export class LivePeers {
  private byKey = new Map<string, LivePeer>()
  private refreshedAt = -Infinity

  constructor(private readonly o: LivePeersOptions) {}

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
    const paths = onePathPerPeer(this.o.peers.peers(this.o.id), peerKey, {
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
      this.o.scheduler.setPeer(key, peer.have, peer.peerId)
      const before = mergedPath(peer) ? pathOf.get(peer.peerId) : undefined
      if (before !== undefined && before !== key) this.o.scheduler.carryPause(before, key)
    }
    for (const key of this.byKey.keys()) {
      if (!current.has(key)) {
        this.o.scheduler.removePeer(key)
        this.o.log.info({ peer: key }, 'peer left')
      }
    }
    this.byKey = current
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
