/**
 * What one peer has shown of its pace, and what follows from it: its
 * requests in flight (and when each was made), which of them have arrived,
 * its smoothed time per chunk and its progress clock; from those its window
 * and its deadlines. Pure: every time is passed in (the scheduler's clock).
 *
 * - Window: `probeWindow` requests until its first chunk arrives, vouched
 *   for or not (a whole window at once would go in index order, before any
 *   other download is heard, to a seeder every download of a swarm then asks
 *   for the same chunks: docs/benchmarks.md); then about QUEUE_MS of its own
 *   time per chunk, between MIN_WINDOW and `window`.
 * - Overdue (hedge its chunks, give it nothing new): requests awaited and no
 *   delivery for DEADLINE_FACTOR × its time per chunk, at least
 *   `deadlineFloorMs` (`firstDeadlineMs` before its first chunk).
 * - Given up on: GIVE_UP_FACTOR times that (twice that if it never
 *   delivered: it has nothing in progress to lose, but a seeder just started
 *   on a loaded machine may need a second to answer, and its late answer
 *   still proves it).
 * - Each time it is given up on without delivering since, its give-up
 *   deadline doubles (up to 4 ×): a peer slow to start is used late, never
 *   shut out for good, while its chunks are still hedged on time.
 * - No deadline longer than `maxDeadlineMs`.
 */

export interface PaceLimits {
  /** Requests in flight to one peer at most (the pipeline window). */
  window: number
  /** Requests in flight to a peer that has delivered nothing yet. */
  probeWindow: number
  /** How long a peer that has delivered nothing yet has for its first chunk before its requests are hedged. */
  firstDeadlineMs: number
  /** The least time between deliveries a delivering peer is allowed before its requests are hedged. */
  deadlineFloorMs: number
  /** No deadline longer than this (the request timeout). */
  maxDeadlineMs: number
}

/** Overdue after this many times a peer's time per chunk without a delivery. */
const DEADLINE_FACTOR = 4
/** Given up on after this many times its hedge deadline (a peer that never delivered: the second). */
const GIVE_UP_FACTOR = 4
const GIVE_UP_FACTOR_UNPROVEN = 2
/** Work queued per peer, in its own time per chunk; the window follows from it. */
const QUEUE_MS = 500
const MIN_WINDOW = 2
/** Weight of a new sample in the smoothed time per chunk (as TCP's RTT estimator). */
const SMOOTHING = 1 / 4
/** The give-up deadline doubles at most this many times. */
const MAX_PATIENCE_DOUBLINGS = 2

export class PeerPace {
  /** Chunk index → when it was requested: every request not finished (verified, failed or discarded). */
  readonly inFlight = new Map<number, number>()
  /** Of those, the ones whose bytes have arrived (being verified): no longer waited for. */
  private readonly arrivedSet = new Set<number>()
  /** Smoothed service time per chunk (ms); undefined until the first delivery. */
  msPerChunk: number | undefined
  /** It delivered the manifest: counted as proven (no probe slot needed). Lost at its first failure. */
  vouched = false
  /** Times given up on since its last delivery: each doubles its give-up deadline. */
  private stalls = 0
  private lastDelivery = -Infinity
  /** The progress clock: its last answer, or when it last went from nothing awaited to something. */
  private progressAt = 0

  constructor(private readonly limits: PaceLimits) {}

  /** Requests whose bytes have not arrived yet. */
  get awaited(): number {
    return this.inFlight.size - this.arrivedSet.size
  }

  get proven(): boolean {
    return this.msPerChunk !== undefined || this.vouched
  }

  isAwaited(index: number): boolean {
    return this.inFlight.has(index) && !this.arrivedSet.has(index)
  }

  request(index: number, now: number): void {
    if (this.awaited === 0) this.progressAt = now // the clock starts when it has something to deliver
    this.inFlight.set(index, now)
  }

  /** The bytes of a request arrived: a delivery, timed. */
  arrive(index: number, now: number): void {
    const requestedAt = this.inFlight.get(index)
    if (requestedAt === undefined || this.arrivedSet.has(index)) return
    this.arrivedSet.add(index)
    // With requests pipelined, the time since the previous delivery is what this chunk cost the peer.
    const sample = now - Math.max(requestedAt, this.lastDelivery)
    this.msPerChunk = this.msPerChunk === undefined ? sample : this.msPerChunk + SMOOTHING * (sample - this.msPerChunk)
    this.lastDelivery = now
    this.progressAt = now
    this.stalls = 0
  }

  /** It was given up on: more patience next time. */
  gaveUp(): void {
    this.stalls = Math.min(this.stalls + 1, MAX_PATIENCE_DOUBLINGS)
  }

  /** It answered without a chunk (not found, bad bytes): a sign of life, not a delivery. */
  answered(now: number): void {
    this.progressAt = now
  }

  /** The request is over, whatever its outcome. */
  forget(index: number): void {
    this.inFlight.delete(index)
    this.arrivedSet.delete(index)
  }

  window(): number {
    const { window, probeWindow } = this.limits
    if (this.msPerChunk === undefined) return Math.min(probeWindow, window)
    return Math.max(
      Math.min(MIN_WINDOW, window),
      Math.min(window, Math.ceil(QUEUE_MS / Math.max(this.msPerChunk, 0.01))),
    )
  }

  overdue(now: number): boolean {
    return this.awaited > 0 && now - this.progressAt >= this.hedgeAfter()
  }

  pastGiveUp(now: number): boolean {
    return this.awaited > 0 && now - this.progressAt >= this.giveUpAfter()
  }

  /** Milliseconds until its next deadline (overdue, then given up on); Infinity when nothing is awaited. */
  nextDeadlineIn(now: number): number {
    if (this.awaited === 0) return Infinity
    const stall = now - this.progressAt
    return Math.max(0, (stall < this.hedgeAfter() ? this.hedgeAfter() : this.giveUpAfter()) - stall)
  }

  private hedgeAfter(): number {
    const { firstDeadlineMs, deadlineFloorMs, maxDeadlineMs } = this.limits
    const allowed =
      this.msPerChunk === undefined ? firstDeadlineMs : Math.max(deadlineFloorMs, DEADLINE_FACTOR * this.msPerChunk)
    return Math.min(allowed, maxDeadlineMs)
  }

  private giveUpAfter(): number {
    const after = (this.msPerChunk === undefined ? GIVE_UP_FACTOR_UNPROVEN : GIVE_UP_FACTOR) * this.hedgeAfter()
    return Math.min(after * 2 ** this.stalls, this.limits.maxDeadlineMs)
  }
}
