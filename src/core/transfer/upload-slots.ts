import { MAX_LINE_PLACE, type NotNow } from './messages.js'
/**
 * Who a chunk server uploads to at once (BitTorrent's choking, simplified to
 * what a server that only answers requests can decide). Without it a seeder
 * asked by 16 downloaders at once splits its link 16 ways: every one of them
 * waits on it, and each chunk it sends is at each downloader late, just when
 * the others want it from that downloader. With `slots` peers served at a
 * time, each gets a real share of the link, and the rest take what those
 * pass on (they are told "not now", E_BUSY with a `retryMs`, and ask other
 * peers meanwhile: no penalty, docs/protocol.md §3).
 *
 * Rules, by peer (the server keys peers by address: chunk-server.ts), only
 * among peers that ask for chunks (manifests are always answered):
 *   - a peer holding a slot is served; its turn ends after `turnMs` only if
 *     another peer is waiting, and it then waits at the back of the line;
 *   - a free slot goes to the peer that has waited longest (a line, so a
 *     peer that retries more often does not get ahead);
 *   - a holder that has asked nothing for `idleMs` gives its slot up (it is
 *     done, or gets what it wants elsewhere); a waiter that has not asked
 *     again for `staleMs` leaves the line; a peer whose last connection
 *     closed leaves at once (`leave`).
 * When at most `slots` peers ask, nobody is ever told "not now". A waiter is
 * told its place in line (`placeOf`), which only shrinks while it keeps
 * asking: a downloader waits for a seeder whose line moves (peer-judge.ts).
 *
 * Pure: the clock is passed in. Memory is bounded by the peers asking (the
 * server's connection cap), and each entry goes within `staleMs` of its
 * peer's last request.
 */

export interface UploadSlotLimits {
  /** Peers uploaded to at once. */
  slots: number
  /** A holder keeps its slot this long while others wait. */
  turnMs: number
  /** A holder that asked nothing for this long gives its slot up. */
  idleMs: number
  /** A waiter that did not ask again for this long leaves the line. */
  staleMs: number
}

export const DEFAULT_UPLOAD_SLOT_LIMITS: UploadSlotLimits = {
  slots: 4,
  turnMs: 5000,
  idleMs: 1000,
  staleMs: 3000,
}

/** The shortest and longest "not now" a peer is told to wait. */
const MIN_RETRY_MS = 100
const MAX_RETRY_MS = 2000

interface Holder {
  since: number
  lastAsked: number
}

export class UploadSlots {
  private readonly holders = new Map<string, Holder>()
  /** Peers told "not now", in the order they began to wait (a Map keeps insertion order). */
  private readonly line = new Map<string, { lastAsked: number }>()

  constructor(private readonly limits: UploadSlotLimits = DEFAULT_UPLOAD_SLOT_LIMITS) {}

  /** Peers holding a slot now. */
  get holding(): number {
    return this.holders.size
  }

  /** Peers waiting for one. */
  get waiting(): number {
    return this.line.size
  }

  isHolding(peer: string): boolean {
    return this.holders.has(peer)
  }

  /** `peer` asks for a chunk at `now`: 0 to serve it, else how long (ms) it should wait before asking again. */
  request(peer: string, now: number): number {
    this.expire(now)
    const held = this.holders.get(peer)
    if (held) {
      held.lastAsked = now
      if (now - held.since < this.limits.turnMs || this.line.size === 0) return 0
      // Its turn is over and someone waits: to the back of the line.
      this.holders.delete(peer)
      this.line.set(peer, { lastAsked: now })
    } else {
      const waiting = this.line.get(peer)
      if (waiting) waiting.lastAsked = now
      else this.line.set(peer, { lastAsked: now })
    }
    if (this.placeInLine(peer) < this.limits.slots - this.holders.size) {
      this.line.delete(peer)
      this.holders.set(peer, { since: now, lastAsked: now })
      return 0
    }
    return this.retryIn(now)
  }

  /**
   * "Not now" for `peer`, with its place in line (at most MAX_LINE_PLACE: it tells a downloader the line moves,
   * so it keeps waiting for us, peer-judge.ts), or undefined when a chunk may go to it now.
   */
  notNow(peer: string, now: number): NotNow | undefined {
    const retryMs = this.request(peer, now)
    if (retryMs === 0) return undefined
    const place = this.placeOf(peer)
    return { retryMs, place: place === undefined ? undefined : Math.min(place, MAX_LINE_PLACE) }
  }

  /**
   * Its place in line, 1 being the next to get a slot (undefined: not waiting). Peers that join later, or
   * whose turn ends, go behind it, so the place only shrinks while the peer keeps asking.
   */
  placeOf(peer: string): number | undefined {
    return this.line.has(peer) ? this.placeInLine(peer) + 1 : undefined
  }

  /** The peer is gone (its last connection closed): its slot, or its place in line, is free at once. */
  leave(peer: string): void {
    this.holders.delete(peer)
    this.line.delete(peer)
  }

  private expire(now: number): void {
    for (const [peer, h] of this.holders) if (now - h.lastAsked >= this.limits.idleMs) this.holders.delete(peer)
    for (const [peer, w] of this.line) if (now - w.lastAsked >= this.limits.staleMs) this.line.delete(peer)
  }

  private placeInLine(peer: string): number {
    let place = 0
    for (const waiting of this.line.keys()) {
      if (waiting === peer) return place
      place++
    }
    return place
  }

  /** Until the first turn may end, within [MIN_RETRY_MS, MAX_RETRY_MS]. */
  private retryIn(now: number): number {
    let soonest = Infinity
    for (const h of this.holders.values()) soonest = Math.min(soonest, h.since + this.limits.turnMs - now)
    return Math.round(Math.min(MAX_RETRY_MS, Math.max(MIN_RETRY_MS, soonest)))
  }
}
