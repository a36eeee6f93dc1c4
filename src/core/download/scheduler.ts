import { Bitfield } from '../bitfield.js'
import { ChunkChoice, type Unavailable } from './chunk-choice.js'
import { ChunkShare } from './chunk-share.js'
import { GonePeers } from './gone-peers.js'
import { type Failure, PeerJudge } from './peer-judge.js'
import { PeerRecord, type PeerReport } from './peer-record.js'
import { bestPlaceInLine, soonestDeadlineIn } from './peer-waits.js'
import { type SchedulerOptions, type SchedulerSettings, schedulerSettings } from './scheduler-options.js'

/**
 * Which chunk to ask of which peer. Pure state, no I/O, its clock injected;
 * the downloader calls `next(peer)` whenever it may send a request, and
 * reports back. Here: the peers (each one's record: peer-record.ts) and
 * whether one may be asked; what a failure costs a peer is peer-judge.ts;
 * which chunk it is asked for, chunk-choice.ts (hedge, rarest first, endgame).
 *
 * - A peer is judged by what it delivers (peer-pace.ts): a probe window
 *   until its first chunk arrives (the peer that delivered the manifest is
 *   vouched for: its probe requests do not wait for a probe slot), then a
 *   window sized to its smoothed time per
 *   chunk — a peer that delivers twice as fast is asked twice as often, a
 *   slow one holds few chunks. A peer with requests awaited that has
 *   delivered nothing for longer than its deadline is overdue: it gets no
 *   new requests, and its chunks are hedged — asked of another holder too,
 *   first verified copy wins. Past giving up, the caller drops it
 *   (`giveUpOverdue`, peer-judge.ts). Slowness is never a strike.
 */

export class Scheduler {
  readonly count: number
  private readonly peers = new Map<string, PeerRecord>()
  readonly gone = new GonePeers()
  private readonly choice: ChunkChoice
  private readonly options: SchedulerSettings
  /** Peers known to answer (the one the manifest came from): proven from the start, no probe slot needed. */
  private readonly vouched = new Set<string>()
  private readonly judge: PeerJudge

  constructor(count: number, options: SchedulerOptions = {}) {
    this.count = count
    this.options = schedulerSettings(options)
    const share = new ChunkShare(count, options.selfPeerId, this.options.now)
    this.choice = new ChunkChoice(count, this.peers, this.options.endgameRequests, this.options.random, share)
    this.judge = new PeerJudge(
      {
        find: (key) => this.find(key),
        live: this.peers,
        unassign: (key, index) => this.unassign(key, index),
        returnChunks: (peer) => this.returnChunks(peer),
        invalidate: () => this.choice.invalidate(),
      },
      this.options,
    )
  }

  get finished(): boolean {
    return this.choice.finished
  }

  isDone(index: number): boolean {
    return this.choice.isDone(index)
  }

  /** A chunk obtained without a peer (found on disk when resuming). */
  markDone(index: number): void {
    this.choice.markDone(index)
  }

  /** Add a peer or update its have-set (and the peer ID it announced). Banned peers stay banned. */
  setPeer(key: string, have: Bitfield, peerId?: string): void {
    const existing = this.find(key)
    if (existing?.banned || have.length !== this.count) return
    if (existing) {
      const changed = existing.updateHave(have) || existing.peerId !== peerId
      const returning = this.gone.delete(key)
      existing.peerId = peerId
      if (!changed && !returning) return // the same claim again: the rarity order stands
      existing.cursor = 0
      this.peers.set(key, existing)
    } else {
      const record = this.fresh(key, have)
      record.peerId = peerId
      this.peers.set(key, record)
    }
    this.choice.invalidate()
  }

  /** Denials ("not found") that have lapsed are forgotten (peer-record.ts): those chunks may be asked again. */
  expireDenials(): void {
    const now = this.options.now()
    let lapsed = false
    for (const peer of this.peers.values()) lapsed = peer.expireDenials(now) || lapsed
    if (lapsed) this.choice.invalidate()
  }

  /** A peer that left: its requests go back to the others. Its stats are kept for the receipt (gone-peers.ts). */
  removePeer(key: string): void {
    const peer = this.peers.get(key)
    if (!peer) return
    this.returnChunks(peer)
    this.peers.delete(key)
    this.gone.keep(key, peer)
    this.choice.invalidate()
  }

  /** Ban a peer outright (it lied about the manifest). */
  banNow(key: string, reason: string): void {
    const peer = this.find(key)
    if (peer) {
      peer.banned ??= reason
      this.returnChunks(peer)
      this.choice.invalidate()
      return
    }
    const record = this.fresh(key, new Bitfield(this.count))
    record.banned = reason
    this.gone.keep(key, record)
  }

  inFlight(key: string): number {
    return this.peers.get(key)?.pace.inFlight.size ?? 0
  }

  /** Whether the peer may be asked now; else the time (ms) until it may. */
  readyIn(key: string): number {
    const peer = this.peers.get(key)
    if (!peer || peer.banned || peer.writtenOff) return Infinity
    return Math.max(0, peer.readyAt - this.options.now())
  }

  /** Whether this path to a peer may carry its requests (peer-paths.ts): not after failures (peer-judge.ts). */
  pathUsable(key: string): boolean {
    return this.judge.pathUsable(key)
  }

  /** The peer at `from` is now asked through `to` (another path to the same host): its "not now" still holds. */
  carryPause(from: string, to: string): void {
    const before = this.find(from)
    if (before) this.peers.get(to)?.pause(before.pausedUntil, before.linePlace, this.options.now())
  }

  /** A peer known to answer (it just delivered the manifest): proven from the start, so its probe needs no probe slot. */
  vouch(key: string): void {
    this.vouched.add(key)
    const peer = this.find(key)
    if (peer) peer.pace.vouched = true
  }

  /** Requests the peer may have in flight now: its probe window, then what its delivery rate earns. */
  windowOf(key: string): number {
    return this.peers.get(key)?.pace.window() ?? 0
  }

  /**
   * Whether the peer has delivered a chunk yet, or is vouched for (until then it gets only probe requests). A
   * vouched path not yet a peer here counts too: of a peer's paths, the one that delivered the manifest is
   * chosen before the others (peer-paths.ts), not after every path a stranger announces for that peer ID.
   */
  isProven(key: string): boolean {
    const peer = this.find(key)
    return peer ? peer.pace.proven : this.vouched.has(key)
  }

  /** Strikes and failed incidents so far (a peer that left keeps its count; Infinity for one never seen): a peer that already let us down waits behind fresh ones for a probe. */
  misses(key: string): number {
    return this.find(key)?.misses ?? Infinity
  }

  /** A peer holding every chunk while others hold part of the file: asked after them (chunk-choice.ts). */
  asksLast(key: string): boolean {
    return this.choice.isSeederInSwarm(key)
  }

  /** Whether the peer has requests in flight and has delivered nothing for longer than its deadline. */
  isOverdue(key: string): boolean {
    return this.peers.get(key)?.pace.overdue(this.options.now()) ?? false
  }

  /**
   * The next chunk to request from this peer, marked in flight; undefined
   * when its window is full, it is overdue, backing off, paused ("not now")
   * or banned, or none fits.
   */
  next(key: string): number | undefined {
    const peer = this.peers.get(key)
    if (!peer || peer.banned || peer.readyAt > this.options.now()) return undefined
    if (peer.pace.inFlight.size >= peer.pace.window() || peer.pace.overdue(this.options.now())) return undefined
    return this.choice.pick(peer, this.options.now())
  }

  /**
   * The bytes of a requested chunk arrived (not yet verified): the peer's
   * progress clock and time per chunk count from here, so verification
   * queued on our side is never held against the peer.
   */
  arrived(key: string, index: number): void {
    this.find(key)?.pace.arrive(index, this.options.now())
  }

  /** A verified chunk. Returns the other peers still fetching it (endgame or hedged duplicates to ignore). */
  succeeded(key: string, index: number, bytes: number): string[] {
    const peer = this.find(key)
    if (peer) {
      this.finish(peer, index)
      peer.delivered(bytes, this.options.now())
    }
    // Duplicates stay in their peers' inFlight until their answers come (see `discard`).
    return this.choice.complete(key, index)
  }

  /** The answer to a request for a chunk another peer delivered first: it no longer counts, but it came. */
  discard(key: string, index: number): void {
    const peer = this.find(key)
    if (peer) this.finish(peer, index)
  }

  /** A request that did not give a verified chunk (peer-judge.ts). Returns true when this failure banned the peer. */
  failed(key: string, index: number, failure: Failure, reason: string = failure): boolean {
    return this.judge.failed(key, index, failure, reason)
  }

  /**
   * It said "not now" for this chunk (E_BUSY with retryMs, and our `place` in its line if it said): the chunk
   * goes to others, the peer waits (peer-judge.ts).
   */
  notNow(key: string, index: number, retryMs: number, place?: number): void {
    this.judge.notNow(key, index, retryMs, place)
  }

  /** Our best place in the upload-slot lines of the live peers waited for in one (undefined: none says). */
  bestLinePlace(): number | undefined {
    return bestPlaceInLine(this.peers)
  }

  /** The peer as a whole failed (connection refused, lost, timed out): back off and hand its chunks to others. */
  peerFailed(key: string): void {
    this.judge.peerFailed(key)
  }

  /** Peers past giving up: their chunks go back to the others and they back off. The caller drops their connections. */
  giveUpOverdue(): string[] {
    return this.judge.giveUpOverdue()
  }

  /** Peers written off since the last call: the caller closes their connections (nothing more is asked of them). */
  takeWrittenOff(): string[] {
    return this.judge.takeWrittenOff()
  }

  /** Milliseconds until the next deadline (a peer turning overdue, or given up on); Infinity when none runs. */
  nextDeadlineIn(): number {
    return soonestDeadlineIn(this.peers, this.options.now())
  }

  /** Missing chunks that no live, unbanned peer has (`lengthOf`: a chunk's bytes). */
  unavailable(lengthOf: (index: number) => number): Unavailable {
    return this.choice.unavailable(lengthOf)
  }

  /** How many peers (live or gone) said "not found" for any of `indices`, whose claims had said they held them. */
  deniersOf(indices: readonly number[]): number {
    let deniers = 0
    for (const peer of [...this.peers.values(), ...this.gone.values()])
      if (indices.some((i) => peer.denials?.get(i) === true)) deniers++
    return deniers
  }

  report(): PeerReport[] {
    return [...this.peers.values(), ...this.gone.values()].map((p) => p.report())
  }

  isBanned(key: string): boolean {
    return this.find(key)?.banned !== undefined
  }

  /** A peer's record, live or gone (records are kept for the receipt). */
  private find(key: string): PeerRecord | undefined {
    return this.peers.get(key) ?? this.gone.get(key)
  }

  private fresh(key: string, have: Bitfield): PeerRecord {
    return new PeerRecord(key, have, this.options, this.vouched.has(key), this.options.now())
  }

  /** A request of this peer answered with its chunk (verified, or a duplicate): it arrived, and is done. */
  private finish(peer: PeerRecord, index: number): void {
    peer.pace.arrive(index, this.options.now())
    peer.pace.forget(index)
  }

  private unassign(key: string, index: number): void {
    this.find(key)?.pace.forget(index)
    this.choice.unassign(key, index)
  }

  /** Its requests still awaited go back to the others (chunks that arrived finish with their verification). */
  private returnChunks(peer: PeerRecord): void {
    for (const index of [...peer.pace.inFlight.keys()]) if (peer.pace.isAwaited(index)) this.unassign(peer.key, index)
  }
}
