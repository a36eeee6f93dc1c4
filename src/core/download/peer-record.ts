import type { Bitfield } from '../bitfield.js'
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
  /** Smoothed time per chunk (ms), once it has delivered. */
  msPerChunk: number | undefined
}

export class PeerRecord implements Candidate {
  readonly denied = new Set<number>()
  readonly pace: PeerPace
  cursor = 0
  /** Failed incidents since its last delivery. */
  failures = 0
  backoffUntil = 0
  strikes = 0
  banned: string | undefined
  bytes = 0
  chunks = 0

  constructor(
    readonly key: string,
    public have: Bitfield,
    limits: PaceLimits & JudgeLimits,
    vouched: boolean,
  ) {
    this.pace = new PeerPace(limits)
    this.pace.vouched = vouched
    this.limits = limits
  }

  private readonly limits: JudgeLimits

  /** Strikes and failed incidents so far: a peer that already let us down waits behind fresh ones for a probe. */
  get misses(): number {
    return this.strikes + this.failures
  }

  /** A verified chunk of `bytes` from it. */
  delivered(bytes: number): void {
    this.failures = 0
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
    if (this.backoffUntil > now) return
    this.failures++
    this.backoffUntil = now + Math.min(this.limits.backoffMaxMs, this.limits.backoffBaseMs * 2 ** (this.failures - 1))
  }

  report(): PeerReport {
    const { key, bytes, chunks, strikes, failures, banned } = this
    return { key, bytes, chunks, strikes, failures, banned, msPerChunk: this.pace.msPerChunk }
  }
}
