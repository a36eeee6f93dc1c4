import { Bitfield } from '../bitfield.js'
import type { Candidate } from './chunk-choice.js'
import { type PaceLimits, PeerPace } from './peer-pace.js'

/**
 * What one download knows and thinks of one peer: what it has (and denied
 * having), its pace (peer-pace.ts), its failures and backoff, its strikes
 * and ban, and what it delivered (for the receipt). Pure; the scheduler
 * decides when each of these changes.
 *
 * - A timeout or lost connection is a failure: exponential backoff, one
 *   step per incident (the requests it failed together count once).
 * - "Not now" (its upload slots are taken) is no failure: a pause, kept
 *   apart from the backoff, so that another path to the same host is not
 *   tried because of it (peer-paths.ts). When it says our place in its
 *   line, a place smaller than any it said since its last delivery is
 *   progress (`lineMovedAt`): a line that moves, not a peer that stalls.
 * - A chunk that fails its hash or a response that breaks the protocol is a
 *   strike; `maxStrikes` strikes ban the peer for the download.
 * - Either way a vouched-for peer (the one that delivered the manifest) loses
 *   its head start: it answered the manifest, not its chunks.
 */

export interface JudgeLimits {
  maxStrikes: number
  backoffBaseMs: number
  backoffMaxMs: number
}

export interface PeerReport {
  key: string
  bytes: number
  chunks: number
  strikes: number
  failures: number
  banned: string | undefined
  /** Gave nothing for the scheduler's patience (its requests failed, timed out or were told "not now"): asked nothing more. Never with `banned`, which says more. */
  writtenOff: boolean
  /** Smoothed time per chunk (ms), once it has delivered. */
  msPerChunk: number | undefined
}

/** How long a peer's first round of "not found" answers stands (PeerRecord.deny); each later round twice as long. */
export const DENIAL_MS = 10_000
/** Rounds of denials that lapse; the next stands for the download, so that a download with no source ends. */
export const DENIAL_LAPSES = 3

export class PeerRecord implements Candidate {
  readonly pace: PeerPace
  cursor = 0
  peerId: string | undefined
  /** Chunks it said "not found" for, one bit each (made on the first): a peer denying 400,000 chunks costs 50 KB, not a set of numbers. */
  private denied: Bitfield | undefined
  private deniedUntil = 0
  private denialRounds = 0
  /** Its have-set's change count when last seen (bitfield.ts), to tell whether an update changed anything. */
  private seenChanges: number
  /** Failed incidents since its last delivery. */
  failures = 0
  /** Not asked before this after a failure (the path may be at fault). */
  backoffUntil = 0
  /** Not asked before this after "not now" (the peer is busy, whichever path asks). */
  pausedUntil = 0
  /** Since when it has given us nothing: when it was first seen, then its last verified chunk. */
  hopeSince: number
  /** Our place in its upload-slot line, as its last answer said ("not now" with a place); undefined otherwise. */
  linePlace: number | undefined
  /** The smallest place it said since `hopeSince`. */
  private lineBest = Infinity
  /** When its line last moved for us (a place below any said before), else `hopeSince`: a first place is no progress. */
  lineMovedAt: number
  /**
   * Given up on for this download: it delivered nothing for the scheduler's patience while every request
   * failed, timed out or was told "not now". It is asked nothing more and holds nothing, so chunks only it
   * claimed become "no live peer" (E_NO_PEER after --wait) instead of a download that waits for ever.
   */
  writtenOff = false
  strikes = 0
  banned: string | undefined
  bytes = 0
  chunks = 0

  constructor(
    readonly key: string,
    public have: Bitfield,
    limits: PaceLimits & JudgeLimits,
    vouched: boolean,
    now: number,
  ) {
    this.hopeSince = now
    this.lineMovedAt = now
    this.pace = new PeerPace(limits)
    this.pace.vouched = vouched
    this.limits = limits
    this.seenChanges = have.changes
  }

  /**
   * Its have-set as announced now (often the same object, changed in place);
   * true when a bit changed since the last call. The downloader passes it ten
   * times a second: only a change may cost a new rarity order.
   */
  updateHave(have: Bitfield): boolean {
    const same =
      have === this.have
        ? have.changes === this.seenChanges // the dictionary's own field, changed in place or not
        : have.heldBytes === 0 && this.have.heldBytes === 0 // two fields of every chunk (a DHT peer's, made afresh)
    this.have = have
    this.seenChanges = have.changes
    return !same
  }

  /**
   * It said "not found" for this chunk at `now`: not asked for it again, whatever is announced of it, until its
   * denials lapse: DENIAL_MS after the first of them, twice that the next round, and so on for DENIAL_LAPSES
   * rounds; the round after stands for the download (a chunk nobody else has then ends it, E_NO_PEER, instead
   * of being asked again for ever). A claim may be a stranger's, made under the peer's address: a denial kept
   * from the first had an honest peer that got the chunk a few seconds later never asked for it (an attacker
   * pass, forty-sixth session).
   */
  deny(index: number, now: number): void {
    if (this.denied === undefined) {
      this.denied = new Bitfield(this.have.length)
      this.deniedUntil = this.denialRounds < DENIAL_LAPSES ? now + DENIAL_MS * 2 ** this.denialRounds : Infinity
    }
    this.denied.set(index)
  }

  /**
   * Its denials lapsed by `now`: true when there were some (the chunks it may have now count again). Only a
   * peer that has delivered in this download: one that never did is asked nothing again (a stranger claiming
   * 200,000 chunks it lacks would have had them all asked of it four times).
   */
  expireDenials(now: number): boolean {
    if (this.denied === undefined || now < this.deniedUntil || this.pace.msPerChunk === undefined) return false
    this.denied = undefined
    this.denialRounds++
    return true
  }

  /** The chunks it said "not found" for (none until the first); read, never written, by chunk-counts.ts. */
  get denials(): Bitfield | undefined {
    return this.denied
  }

  denies(index: number): boolean {
    return this.writtenOff || (this.denied?.get(index) ?? false)
  }

  private readonly limits: JudgeLimits

  /** Strikes and failed incidents so far: a peer that already let us down waits behind fresh ones for a probe. */
  get misses(): number {
    return this.strikes + this.failures
  }

  /** A verified chunk of `bytes` from it, at `now`. */
  delivered(bytes: number, now: number): void {
    this.failures = 0
    this.hopeSince = now
    this.linePlace = undefined
    this.lineBest = Infinity
    this.lineMovedAt = now
    this.bytes += bytes
    this.chunks++
  }

  /** One strike; true when this one bans it (`banReason` gets the strike count). */
  strike(banReason: (strikes: number) => string): boolean {
    this.pace.vouched = false
    this.strikes++
    if (this.strikes < this.limits.maxStrikes || this.banned) return false
    this.banned = banReason(this.strikes)
    return true
  }

  /** One backoff step, unless it is backing off already (the same incident). */
  backoff(now: number): void {
    this.pace.vouched = false
    this.linePlace = undefined // no longer known to wait in its line
    if (this.backoffUntil > now) return
    this.failures++
    this.backoffUntil = now + Math.min(this.limits.backoffMaxMs, this.limits.backoffBaseMs * 2 ** (this.failures - 1))
  }

  /**
   * It said "not now" (its upload slots are taken): not asked again before `until`; not a failure. `place`:
   * our place in its line, if it said; one below every place said since its last delivery is progress (a
   * place that stays, or grows, is not).
   */
  pause(until: number, place: number | undefined, now: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, until)
    this.linePlace = place
    if (place === undefined || place >= this.lineBest) return
    if (this.lineBest !== Infinity) this.lineMovedAt = now
    this.lineBest = place
  }

  /** When it may be asked again (0: now). */
  get readyAt(): number {
    return Math.max(this.backoffUntil, this.pausedUntil)
  }

  report(): PeerReport {
    const { key, bytes, chunks, strikes, failures, banned } = this
    const writtenOff = this.writtenOff && banned === undefined
    return { key, bytes, chunks, strikes, failures, banned, writtenOff, msPerChunk: this.pace.msPerChunk }
  }
}
