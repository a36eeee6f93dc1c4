import { Bitfield } from '../bitfield.js'
import {
  DEFAULT_MAX_STRIKES, DEFAULT_PROBE_WINDOW, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_WINDOW, FIRST_DELIVERY_DEADLINE_MS,
} from '../constants.js'
import { type PaceLimits, PeerPace } from './peer-pace.js'

/**
 * Which chunk to ask of which peer. Pure state, no I/O, its clock injected;
 * the downloader calls `next(peer)` whenever it may send a request, and
 * reports back.
 *
 * - Rarest first: among the chunks a peer has that nobody is fetching, the one
 *   the fewest live peers have; ties go to the lowest index, so a download
 *   from complete seeders arrives nearly in order (the stitch then hashes
 *   from memory, not from disk).
 * - A peer is judged by what it delivers (peer-pace.ts): a probe window
 *   until its first chunk arrives (unless vouched for: the peer that
 *   delivered the manifest), then a window sized to its smoothed time per
 *   chunk — a peer that delivers twice as fast is asked twice as often, a
 *   slow one holds few chunks. A peer with requests awaited that has
 *   delivered nothing for longer than its deadline is overdue: it gets no
 *   new requests, and its chunks are hedged — asked of another holder too,
 *   first verified copy wins. Past giving up, the caller drops it
 *   (`giveUpOverdue`): its chunks go back and it backs off. Slowness is
 *   never a strike.
 * - Failures: a timeout or lost connection puts the peer in exponential
 *   backoff (one step per incident) and returns its chunks to the others;
 *   "not found" clears that bit of its have-set; a chunk that fails its hash
 *   or a response that breaks the protocol is a strike, and `maxStrikes`
 *   strikes ban the peer for this download.
 * - Endgame: when every missing chunk is already being fetched, an idle peer
 *   may fetch one again (at most `endgameRequests` peers per chunk); the
 *   first verified copy wins.
 */

export interface SchedulerOptions extends Partial<PaceLimits> {
  maxStrikes?: number
  endgameRequests?: number
  backoffBaseMs?: number
  backoffMaxMs?: number
  now?: () => number
}

/**
 * checksum: bytes that failed their hash (a strike) · protocol: a response that broke the protocol (a strike) ·
 * missing: "not found" · error: the request failed (timeout, lost connection: backoff) ·
 * cancelled: its connection closed over another request's failure (no fault of this one).
 */
export type Failure = 'checksum' | 'protocol' | 'missing' | 'error' | 'cancelled'

export interface PeerReport {
  key: string
  bytes: number
  chunks: number
  strikes: number
  failures: number
  banned: string | undefined
  /** Smoothed time per chunk (ms), once it has delivered. */
  msPerChunk: number | undefined
}

interface PeerState {
  key: string
  have: Bitfield
  /** Chunks the peer said "not found" for: not asked again, whatever it announces. */
  denied: Set<number>
  /** Its requests in flight, deliveries and deadlines. */
  pace: PeerPace
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
  /** Peers known to answer (the one the manifest came from): no probing, the whole window from the start. */
  private readonly vouched = new Set<string>()
  /** Chunks in flight at overdue peers, oldest request first; recomputed at most once per clock tick. */
  private hedgeable: { at: number; chunks: Array<{ index: number; key: string; at: number }> } = { at: -Infinity, chunks: [] }

  constructor(count: number, options: SchedulerOptions = {}) {
    this.count = count
    this.done = new Uint8Array(count)
    this.remainingCount = count
    this.o = {
      maxStrikes: DEFAULT_MAX_STRIKES, endgameRequests: 2, backoffBaseMs: 500, backoffMaxMs: 10_000, window: DEFAULT_WINDOW,
      probeWindow: DEFAULT_PROBE_WINDOW, firstDeadlineMs: FIRST_DELIVERY_DEADLINE_MS, deadlineFloorMs: 1000, maxDeadlineMs: DEFAULT_REQUEST_TIMEOUT_MS, now: Date.now,
      ...options,
    }
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
      this.peers.set(key, this.fresh(key, have))
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
    this.gone.set(key, { ...this.fresh(key, new Bitfield(this.count)), banned: reason })
  }

  inFlight(key: string): number {
    return this.peers.get(key)?.pace.inFlight.size ?? 0
  }

  /** Whether the peer may be asked now; else the time (ms) until it may. */
  readyIn(key: string): number {
    const peer = this.peers.get(key)
    if (!peer || peer.banned) return Infinity
    return Math.max(0, peer.backoffUntil - this.o.now())
  }

  /** A peer known to answer (it just delivered the manifest): it starts with the whole window, not a probe. */
  vouch(key: string): void {
    this.vouched.add(key)
    const peer = this.peers.get(key) ?? this.gone.get(key)
    if (peer) peer.pace.vouched = true
  }

  /** Requests the peer may have in flight now: its probe window, then what its delivery rate earns. */
  windowOf(key: string): number {
    return this.peers.get(key)?.pace.window() ?? 0
  }

  /** Whether the peer has delivered a chunk yet, or is vouched for (until then it gets only probe requests). */
  isProven(key: string): boolean {
    return this.peers.get(key)?.pace.proven ?? false
  }

  /** Strikes and failed incidents so far: a peer that already let us down waits behind fresh ones for a probe. */
  misses(key: string): number {
    const peer = this.peers.get(key)
    return peer === undefined ? Infinity : peer.strikes + peer.failures
  }

  /** Whether the peer has requests in flight and has delivered nothing for longer than its deadline. */
  isOverdue(key: string): boolean {
    const peer = this.peers.get(key)
    return peer !== undefined && peer.pace.overdue(this.o.now())
  }

  /**
   * The next chunk to request from this peer, marked in flight; undefined
   * when its window is full, it is overdue, backing off or banned, or none fits.
   */
  next(key: string): number | undefined {
    const peer = this.peers.get(key)
    if (!peer || peer.banned || peer.backoffUntil > this.o.now()) return undefined
    if (peer.pace.inFlight.size >= peer.pace.window() || peer.pace.overdue(this.o.now())) return undefined
    const hedge = this.hedgePick(peer)
    if (hedge !== undefined) return this.assign(peer, hedge)
    if (this.orderStale) this.rebuildOrder()
    for (; peer.cursor < this.order.length; peer.cursor++) {
      const index = this.order[peer.cursor]!
      if (!this.done[index] && !this.requesters.has(index) && has(peer, index)) return this.assign(peer, index)
    }
    return this.endgamePick(peer)
  }

  /**
   * The bytes of a requested chunk arrived (not yet verified): the peer's
   * progress clock and time per chunk count from here, so verification
   * queued on our side is never held against the peer.
   */
  arrived(key: string, index: number): void {
    ;(this.peers.get(key) ?? this.gone.get(key))?.pace.arrive(index, this.o.now())
  }

  /** A verified chunk. Returns the other peers still fetching it (endgame or hedged duplicates to ignore). */
  succeeded(key: string, index: number, bytes: number): string[] {
    const peer = this.peers.get(key) ?? this.gone.get(key)
    if (peer) {
      this.finish(peer, index)
      peer.failures = 0
      peer.bytes += bytes
      peer.chunks++
    }
    // Duplicates stay in their peers' inFlight until their answers come (see `discard`).
    const others = [...(this.requesters.get(index) ?? [])].filter((k) => k !== key)
    this.requesters.delete(index)
    this.markDone(index)
    return others
  }

  /** The answer to a request for a chunk another peer delivered first: it no longer counts, but it came. */
  discard(key: string, index: number): void {
    const peer = this.peers.get(key) ?? this.gone.get(key)
    if (peer) this.finish(peer, index)
  }

  /** A request that did not give a verified chunk. Returns true when this failure banned the peer. */
  failed(key: string, index: number, failure: Failure, reason: string = failure): boolean {
    const peer = this.peers.get(key) ?? this.gone.get(key)
    this.unassign(key, index)
    if (!peer || failure === 'cancelled') return false
    if (failure === 'missing') {
      peer.denied.add(index)
      peer.pace.answered(this.o.now())
      return false
    }
    if (failure === 'checksum') {
      peer.pace.answered(this.o.now())
      return this.addStrike(peer, (n) => `sent ${n} chunks that failed SHA-256 (${reason})`)
    }
    if (failure === 'protocol') return this.addStrike(peer, (n) => `sent ${n} responses that broke the protocol (last: ${reason})`)
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

  /**
   * Peers past giving up (no delivery for several times their deadline):
   * their chunks go back to the others and they back off. The caller drops
   * their connections.
   */
  giveUpOverdue(): string[] {
    const now = this.o.now()
    const out: string[] = []
    for (const peer of this.peers.values()) {
      if (!peer.pace.pastGiveUp(now)) continue
      peer.pace.gaveUp()
      this.returnChunks(peer)
      this.backoff(peer)
      out.push(peer.key)
    }
    return out
  }

  /** Milliseconds until the next deadline (a peer turning overdue, or given up on); Infinity when none runs. */
  nextDeadlineIn(): number {
    const now = this.o.now()
    let soonest = Infinity
    for (const peer of this.peers.values()) soonest = Math.min(soonest, peer.pace.nextDeadlineIn(now))
    return soonest
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
      key: p.key, bytes: p.bytes, chunks: p.chunks, strikes: p.strikes, failures: p.failures, banned: p.banned, msPerChunk: p.pace.msPerChunk,
    }))
  }

  isBanned(key: string): boolean {
    return (this.peers.get(key) ?? this.gone.get(key))?.banned !== undefined
  }

  private fresh(key: string, have: Bitfield): PeerState {
    const pace = new PeerPace(this.o)
    pace.vouched = this.vouched.has(key)
    return { key, have, denied: new Set(), pace, cursor: 0, failures: 0, backoffUntil: 0, strikes: 0, banned: undefined, bytes: 0, chunks: 0 }
  }

  /** A request of this peer answered with its chunk (verified, or a duplicate): it arrived, and is done. */
  private finish(peer: PeerState, index: number): void {
    peer.pace.arrive(index, this.o.now())
    peer.pace.forget(index)
  }

  /** A vouched-for peer that fails or lies is probed like anyone next time (it answered the manifest, not its chunks). */
  private unvouch(peer: PeerState): void {
    this.vouched.delete(peer.key)
    peer.pace.vouched = false
  }

  private addStrike(peer: PeerState, banReason: (strikes: number) => string): boolean {
    this.unvouch(peer)
    peer.strikes++
    if (peer.strikes < this.o.maxStrikes || peer.banned) return false
    peer.banned = banReason(peer.strikes)
    this.returnChunks(peer)
    this.orderStale = true
    return true
  }

  private assign(peer: PeerState, index: number): number {
    peer.pace.request(index, this.o.now())
    let set = this.requesters.get(index)
    if (!set) this.requesters.set(index, (set = new Set()))
    set.add(peer.key)
    return index
  }

  private unassign(key: string, index: number): void {
    ;(this.peers.get(key) ?? this.gone.get(key))?.pace.forget(index)
    const set = this.requesters.get(index)
    if (!set) return
    set.delete(key)
    if (set.size === 0) {
      this.requesters.delete(index)
      // The chunk is free again: peers whose cursor passed it must look again.
      for (const p of this.peers.values()) p.cursor = 0
    }
  }

  /** Its requests still awaited go back to the others (chunks that arrived finish with their verification). */
  private returnChunks(peer: PeerState): void {
    for (const index of [...peer.pace.inFlight.keys()]) if (peer.pace.isAwaited(index)) this.unassign(peer.key, index)
  }

  /** One backoff step per incident: the requests a lost connection fails together count once. */
  private backoff(peer: PeerState): void {
    this.unvouch(peer)
    const now = this.o.now()
    if (peer.backoffUntil > now) return
    peer.failures++
    peer.backoffUntil = now + Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** (peer.failures - 1))
  }

  /** The oldest chunk stuck at an overdue peer that this peer has and may fetch as well. */
  private hedgePick(peer: PeerState): number | undefined {
    const now = this.o.now()
    if (this.hedgeable.at !== now) {
      const chunks: Array<{ index: number; key: string; at: number }> = []
      for (const p of this.peers.values()) {
        if (!p.pace.overdue(now)) continue
        for (const [index, at] of p.pace.inFlight) if (!this.done[index] && p.pace.isAwaited(index)) chunks.push({ index, key: p.key, at })
      }
      this.hedgeable = { at: now, chunks: chunks.sort((a, b) => a.at - b.at) }
    }
    for (const { index, key } of this.hedgeable.chunks) {
      const set = this.requesters.get(index)
      if (this.done[index] || !set?.has(key) || set.has(peer.key) || set.size >= this.o.endgameRequests || !has(peer, index)) continue
      const holder = this.peers.get(key)
      if (holder?.pace.overdue(now)) return index // still overdue (it may have delivered since the list was made)
    }
    return undefined
  }

  /**
   * Every chunk is taken: help with one already in flight elsewhere, fewest
   * requesters first — only when this peer is nearly idle, so deep pipelines
   * do not turn the end of every download into duplicate traffic.
   */
  private endgamePick(peer: PeerState): number | undefined {
    if (peer.pace.inFlight.size >= ENDGAME_MAX_PER_PEER) return undefined
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
