import { Bitfield } from '../bitfield.js'

/**
 * Which chunk to ask of which peer. Pure state, no I/O; the downloader calls
 * `next(peer)` whenever a peer has a free request slot, and reports back.
 *
 * - Rarest first: among the chunks a peer has that nobody is fetching, the one
 *   the fewest live peers have; ties go to the lowest index, so a download
 *   from complete seeders arrives nearly in order (the stitch then hashes
 *   from memory, not from disk).
 * - Load follows delivery: each peer has a fixed window of requests in
 *   flight and gets a new chunk as soon as one comes back, so a peer that
 *   delivers twice as fast is asked twice as often.
 * - Failures: a timeout or lost connection puts the peer in exponential
 *   backoff and returns its chunks to the others; "not found" clears that bit
 *   of its have-set; a chunk that fails its hash is a strike, and
 *   `maxStrikes` strikes ban the peer for this download.
 * - Endgame: when every missing chunk is already being fetched, an idle peer
 *   may fetch one again (at most `endgameRequests` peers per chunk); the
 *   first verified copy wins.
 */

export interface SchedulerOptions {
  maxStrikes?: number
  endgameRequests?: number
  backoffBaseMs?: number
  backoffMaxMs?: number
  now?: () => number
}

export type Failure = 'checksum' | 'missing' | 'error'

export interface PeerReport {
  key: string
  bytes: number
  chunks: number
  strikes: number
  failures: number
  banned: string | undefined
}

interface PeerState {
  key: string
  have: Bitfield
  /** Chunks the peer said "not found" for: not asked again, whatever it announces. */
  denied: Set<number>
  inFlight: Set<number>
  cursor: number
  failures: number
  backoffUntil: number
  strikes: number
  banned: string | undefined
  bytes: number
  chunks: number
}

const ENDGAME_MAX_PER_PEER = 2

const has = (peer: PeerState, index: number): boolean => peer.have.get(index) && !peer.denied.has(index)

export class Scheduler {
  readonly count: number
  private readonly done: Uint8Array
  private readonly requesters = new Map<number, Set<string>>()
  private readonly peers = new Map<string, PeerState>()
  private readonly gone = new Map<string, PeerState>()
  private order: number[] = []
  private orderStale = true
  private remainingCount: number
  private readonly o: Required<SchedulerOptions>

  constructor(count: number, options: SchedulerOptions = {}) {
    this.count = count
    this.done = new Uint8Array(count)
    this.remainingCount = count
    this.o = { maxStrikes: 3, endgameRequests: 2, backoffBaseMs: 500, backoffMaxMs: 10_000, now: Date.now, ...options }
  }

  get remaining(): number {
    return this.remainingCount
  }

  get finished(): boolean {
    return this.remainingCount === 0
  }

  isDone(index: number): boolean {
    return this.done[index] === 1
  }

  /** A chunk obtained without a peer (found on disk when resuming). */
  markDone(index: number): void {
    if (this.done[index]) return
    this.done[index] = 1
    this.remainingCount--
  }

  /** Add a peer or update its have-set. Banned peers stay banned. */
  setPeer(key: string, have: Bitfield): void {
    const existing = this.peers.get(key) ?? this.gone.get(key)
    if (existing?.banned || have.length !== this.count) return
    if (existing) {
      existing.have = have
      existing.cursor = 0
      this.peers.set(key, existing)
      this.gone.delete(key)
    } else {
      this.peers.set(key, {
        key, have, denied: new Set(), inFlight: new Set(), cursor: 0, failures: 0, backoffUntil: 0, strikes: 0, banned: undefined, bytes: 0, chunks: 0,
      })
    }
    this.orderStale = true
  }

  /** A peer that left: its requests go back to the others. Its stats are kept for the receipt. */
  removePeer(key: string): void {
    const peer = this.peers.get(key)
    if (!peer) return
    this.returnChunks(peer)
    this.peers.delete(key)
    this.gone.set(key, peer)
    this.orderStale = true
  }

  /** Ban a peer outright (it lied about the manifest). */
  banNow(key: string, reason: string): void {
    const peer = this.peers.get(key) ?? this.gone.get(key)
    if (peer) {
      peer.banned ??= reason
      this.returnChunks(peer)
      this.orderStale = true
      return
    }
    this.gone.set(key, {
      key, have: new Bitfield(this.count), denied: new Set(), inFlight: new Set(), cursor: 0, failures: 0, backoffUntil: 0,
      strikes: 0, banned: reason, bytes: 0, chunks: 0,
    })
  }

  hasPeer(key: string): boolean {
    return this.peers.has(key)
  }

  inFlight(key: string): number {
    return this.peers.get(key)?.inFlight.size ?? 0
  }

  /** Whether the peer may be asked now; else the time (ms) until it may. */
  readyIn(key: string): number {
    const peer = this.peers.get(key)
    if (!peer || peer.banned) return Infinity
    return Math.max(0, peer.backoffUntil - this.o.now())
  }

  /** The next chunk to request from this peer, marked in flight; undefined when none fits. */
  next(key: string): number | undefined {
    const peer = this.peers.get(key)
    if (!peer || peer.banned || peer.backoffUntil > this.o.now()) return undefined
    if (this.orderStale) this.rebuildOrder()
    for (; peer.cursor < this.order.length; peer.cursor++) {
      const index = this.order[peer.cursor]!
      if (!this.done[index] && !this.requesters.has(index) && has(peer, index)) return this.assign(peer, index)
    }
    return this.endgamePick(peer)
  }

  /** A verified chunk. Returns the other peers still fetching it (endgame duplicates to ignore). */
  succeeded(key: string, index: number, bytes: number): string[] {
    const peer = this.peers.get(key) ?? this.gone.get(key)
    if (peer) {
      peer.inFlight.delete(index)
      peer.failures = 0
      peer.bytes += bytes
      peer.chunks++
    }
    // Endgame duplicates stay in their peers' inFlight until their answers come (see `discard`).
    const others = [...(this.requesters.get(index) ?? [])].filter((k) => k !== key)
    this.requesters.delete(index)
    this.markDone(index)
    return others
  }

  /** The answer to a request for a chunk another peer delivered first (endgame): it no longer counts. */
  discard(key: string, index: number): void {
    ;(this.peers.get(key) ?? this.gone.get(key))?.inFlight.delete(index)
  }

  /** A request that did not give a verified chunk. Returns true when this failure banned the peer. */
  failed(key: string, index: number, failure: Failure, reason: string = failure): boolean {
    const peer = this.peers.get(key) ?? this.gone.get(key)
    this.unassign(key, index)
    if (!peer) return false
    if (failure === 'missing') {
      peer.denied.add(index)
      return false
    }
    if (failure === 'checksum') {
      peer.strikes++
      if (peer.strikes >= this.o.maxStrikes && !peer.banned) {
        peer.banned = `sent ${peer.strikes} chunks that failed SHA-256 (${reason})`
        this.returnChunks(peer)
        this.orderStale = true
        return true
      }
      return false
    }
    this.backoff(peer)
    return false
  }

  /** The peer as a whole failed (connection refused, lost, timed out): back off and hand its chunks to others. */
  peerFailed(key: string): void {
    const peer = this.peers.get(key)
    if (!peer) return
    this.returnChunks(peer)
    this.backoff(peer)
  }

  /** Missing chunks that no live, unbanned peer has. */
  unavailable(): number[] {
    const out: number[] = []
    for (let i = 0; i < this.count; i++) {
      if (this.done[i]) continue
      let found = false
      for (const p of this.peers.values()) if (!p.banned && has(p, i)) { found = true; break }
      if (!found) out.push(i)
    }
    return out
  }

  report(): PeerReport[] {
    return [...this.peers.values(), ...this.gone.values()].map((p) => ({
      key: p.key, bytes: p.bytes, chunks: p.chunks, strikes: p.strikes, failures: p.failures, banned: p.banned,
    }))
  }

  isBanned(key: string): boolean {
    return (this.peers.get(key) ?? this.gone.get(key))?.banned !== undefined
  }

  private assign(peer: PeerState, index: number): number {
    peer.inFlight.add(index)
    let set = this.requesters.get(index)
    if (!set) this.requesters.set(index, (set = new Set()))
    set.add(peer.key)
    return index
  }

  private unassign(key: string, index: number): void {
    this.peers.get(key)?.inFlight.delete(index)
    this.gone.get(key)?.inFlight.delete(index)
    const set = this.requesters.get(index)
    if (!set) return
    set.delete(key)
    if (set.size === 0) {
      this.requesters.delete(index)
      // The chunk is free again: peers whose cursor passed it must look again.
      for (const p of this.peers.values()) p.cursor = 0
    }
  }

  private returnChunks(peer: PeerState): void {
    for (const index of [...peer.inFlight]) this.unassign(peer.key, index)
  }

  private backoff(peer: PeerState): void {
    peer.failures++
    const delay = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** (peer.failures - 1))
    peer.backoffUntil = this.o.now() + delay
  }

  /**
   * Every chunk is taken: help with one already in flight elsewhere, fewest
   * requesters first — only when this peer is nearly idle, so deep pipelines
   * do not turn the end of every download into duplicate traffic.
   */
  private endgamePick(peer: PeerState): number | undefined {
    if (peer.inFlight.size >= ENDGAME_MAX_PER_PEER) return undefined
    let best: number | undefined
    let bestCount = Infinity
    for (const [index, set] of this.requesters) {
      if (set.has(peer.key) || set.size >= this.o.endgameRequests || !has(peer, index)) continue
      if (set.size < bestCount) {
        best = index
        bestCount = set.size
      }
    }
    if (best === undefined) return undefined
    // Only when nothing unassigned is left for anyone: endgame, not greed.
    for (let i = 0; i < this.count; i++) if (!this.done[i] && !this.requesters.has(i) && this.anyPeerHas(i)) return undefined
    return this.assign(peer, best)
  }

  private anyPeerHas(index: number): boolean {
    for (const p of this.peers.values()) if (!p.banned && has(p, index)) return true
    return false
  }

  private rebuildOrder(): void {
    const availability = new Uint16Array(this.count)
    for (const p of this.peers.values()) {
      if (p.banned) continue
      for (let i = 0; i < this.count; i++) if (p.have.get(i)) availability[i] = Math.min(65535, availability[i]! + 1)
    }
    const order: number[] = []
    for (let i = 0; i < this.count; i++) if (!this.done[i] && availability[i]! > 0) order.push(i)
    order.sort((a, b) => availability[a]! - availability[b]! || a - b)
    this.order = order
    for (const p of this.peers.values()) p.cursor = 0
    this.orderStale = false
  }
}
