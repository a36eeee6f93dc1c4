import type { PeerRecord } from './peer-record.js'

/**
 * What each outcome short of a verified chunk does to a peer, and to the
 * chunks it was asked for (the scheduler keeps the peers and decides who
 * may be asked; this decides what a failure costs). Pure state, no I/O, its
 * clock injected.
 *
 * - A timeout or lost connection backs the peer off and returns its chunks
 *   to the others; "not found" clears that bit of its have-set; a chunk that
 *   fails its hash or a response that breaks the protocol is a strike, and
 *   `maxStrikes` strikes ban it for this download.
 * - "Not now" (its upload slots are taken) pauses it, no fault.
 * - Past giving up (no delivery for several times its deadline,
 *   peer-pace.ts): its chunks go back and it backs off. Slowness is never a
 *   strike.
 * - A peer that gives nothing for `patienceMs` (every request failed, timed
 *   out or told "not now") is written off: asked nothing more, its requests
 *   handed to others, and the caller closes its connections. Unless its
 *   upload-slot line moves for us: a peer whose "not now" says a place
 *   smaller than before, within the last `patienceMs`, is busy and honest,
 *   and is waited for, up to `linePatienceMs` without a delivery. A place
 *   that stays or grows is no progress, so a stranger saying "not now" for
 *   ever holds a download at most `patienceMs` (counting down slowly, at
 *   most `linePatienceMs`).
 * - Failures may be the path's fault, "not now" never is: another path to
 *   the same host is tried only after failures (`pathUsable`).
 */

/** The shortest pause after a "not now", whatever the peer asks (0 would have us ask it again at once, in a loop). */
export const MIN_NOT_NOW_MS = 100
/**
 * How long a peer may give nothing (every request failed, timed out or told "not now") before it is written
 * off for the download. An honest peer delivers within the request timeout (30 s), and an honest seeder's
 * line of upload slots moves in seconds.
 */
export const PEER_PATIENCE_MS = 60_000
/**
 * The longest a peer whose upload-slot line keeps moving for us may give nothing. A server's line holds one
 * place per address connected (--max-connections, 256 by default), and moves 4 places per 5 s turn (its
 * default slots): 256 places take 320 s; twice that.
 */
export const LINE_PATIENCE_MS = 10 * 60_000

/**
 * checksum: bytes that failed their hash (a strike) · protocol: a response that broke the protocol (a strike) ·
 * missing: "not found" · error: the request failed (timeout, lost connection: backoff) ·
 * cancelled: its connection closed over another request's failure (no fault of this one).
 */
export type Failure = 'checksum' | 'protocol' | 'missing' | 'error' | 'cancelled'

/** What the judge reads and moves of the scheduler's: its peers (never added or removed here) and their chunks. */
export interface JudgedPeers {
  /** The peer's record, live or gone. */
  find(key: string): PeerRecord | undefined
  readonly live: ReadonlyMap<string, PeerRecord>
  /** `key` no longer fetches `index`: the chunk may go to another peer. */
  unassign(key: string, index: number): void
  /** Its requests still awaited go back to the others. */
  returnChunks(peer: PeerRecord): void
  /** A peer was banned or written off: the rarity order is rebuilt before the next pick. */
  invalidate(): void
}

export interface JudgeOptions {
  now: () => number
  patienceMs: number
  /** The most a peer moving up its upload-slot line is waited for without a delivery (LINE_PATIENCE_MS). */
  linePatienceMs: number
}

export class PeerJudge {
  /** Written off since takeWrittenOff() last ran. */
  private readonly writtenOffSinceTaken: string[] = []

  constructor(
    private readonly peers: JudgedPeers,
    private readonly options: JudgeOptions,
  ) {}

  /** A request that did not give a verified chunk. Returns true when this failure banned the peer. */
  failed(key: string, index: number, failure: Failure, reason: string = failure): boolean {
    const peer = this.peers.find(key)
    this.peers.unassign(key, index)
    if (!peer || failure === 'cancelled') return false
    if (failure === 'missing') {
      peer.deny(index, this.options.now())
      peer.pace.answered(this.options.now())
      return false
    }
    if (failure === 'checksum') {
      peer.pace.answered(this.options.now())
      return this.addStrike(peer, (n) => `sent ${n} chunks that failed SHA-256 (${reason})`)
    }
    if (failure === 'protocol')
      return this.addStrike(peer, (n) => `sent ${n} responses that broke the protocol (last: ${reason})`)
    peer.backoff(this.options.now()) // a vouched-for peer that fails is probed like anyone next time
    this.writeOffIfHopeless(peer)
    return false
  }

  /**
   * It said "not now" for this chunk (E_BUSY with retryMs: its upload slots are taken), at `place` in its
   * line if it said: the chunk goes to others, the peer waits `retryMs` (at least MIN_NOT_NOW_MS), no fault,
   * unless it is past its patience.
   */
  notNow(key: string, index: number, retryMs: number, place?: number): void {
    const peer = this.peers.find(key)
    this.peers.unassign(key, index)
    if (!peer) return
    const now = this.options.now()
    peer.pace.answered(now)
    peer.pause(now + Math.max(MIN_NOT_NOW_MS, retryMs), place, now)
    this.writeOffIfHopeless(peer)
  }

  /** The peer as a whole failed (connection refused, lost, timed out): back off and hand its chunks to others. */
  peerFailed(key: string): void {
    const peer = this.peers.live.get(key)
    if (!peer) return
    this.peers.returnChunks(peer)
    peer.backoff(this.options.now())
    this.writeOffIfHopeless(peer)
  }

  /**
   * Peers past giving up (no delivery for several times their deadline):
   * their chunks go back to the others and they back off. The caller drops
   * their connections.
   */
  giveUpOverdue(): string[] {
    const now = this.options.now()
    const out: string[] = []
    for (const peer of this.peers.live.values()) {
      if (!peer.pace.pastGiveUp(now)) continue
      peer.pace.gaveUp()
      this.peers.returnChunks(peer)
      peer.backoff(this.options.now())
      this.writeOffIfHopeless(peer)
      out.push(peer.key)
    }
    return out
  }

  /**
   * Whether this path to a peer may carry its requests (peer-paths.ts): not banned, not backing off after a
   * failure, not written off after failures. "Not now" is the peer's, whichever path asks: neither its pause
   * nor a write-off for it alone makes another path to the same host worth asking.
   */
  pathUsable(key: string): boolean {
    const peer = this.peers.find(key)
    if (!peer) return true
    return !peer.banned && !(peer.writtenOff && peer.failures > 0) && peer.backoffUntil <= this.options.now()
  }

  /** Peers written off since the last call: the caller closes their connections (nothing more is asked of them). */
  takeWrittenOff(): string[] {
    return this.writtenOffSinceTaken.splice(0)
  }

  /**
   * Past its patience with nothing delivered, and its line (if it said one) still for `patienceMs`, or
   * waited for `linePatienceMs`: written off (peer-record.ts), its requests handed to others.
   */
  private writeOffIfHopeless(peer: PeerRecord): void {
    const now = this.options.now()
    const { patienceMs, linePatienceMs } = this.options
    if (peer.writtenOff || now - peer.hopeSince < patienceMs) return
    if (now - peer.lineMovedAt < patienceMs && now - peer.hopeSince < linePatienceMs) return
    peer.writtenOff = true
    this.writtenOffSinceTaken.push(peer.key)
    this.peers.returnChunks(peer)
    this.peers.invalidate()
  }

  /** A strike (a vouched-for peer that lies is probed like anyone next time: PeerRecord.strike); true when it bans the peer. */
  private addStrike(peer: PeerRecord, banReason: (strikes: number) => string): boolean {
    if (!peer.strike(banReason)) return false
    this.peers.returnChunks(peer)
    this.peers.invalidate()
    return true
  }
}
