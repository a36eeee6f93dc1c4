import type { Pending, ResponseJob } from './response-job.js'

/**
 * A connection's requests from decoding until their answers are handed to
 * the socket, in request order: a backlog of decoded requests, and up to
 * PREFETCH answers being prepared (read and verified) ahead of the one
 * being written. No socket, budget or timer here: the connection says when
 * its socket is stalled and whether it is over its share of the budget, and
 * makes the jobs (`start`).
 *
 *   add() ─▶ backlog ─▶ fill() ─▶ being prepared or ready ─▶ take() ─▶ the connection
 *               ▲──────────────────── giveBack() ◀─┘ (the newest, when over the share)
 *
 * Every job it starts is its own until `take()` hands it to the connection
 * (which writes it and disposes it when its bytes are in the kernel); until
 * then it is disposed here, once: given back, or at `close()`.
 */

/** Answers prepared ahead of the one being written. */
export const PREFETCH = 4

/** What read-ahead needs of an answer being prepared (a ResponseJob). */
export type PreparedAnswer = Pick<ResponseJob, 'request' | 'sheddable' | 'dispose'>

export class ReadAhead<Job extends PreparedAnswer> {
  /** Decoded, not yet being prepared. */
  private readonly backlog: Pending[] = []
  /** Being prepared or ready, in request order. */
  private readonly queue: Job[] = []

  constructor(private readonly start: (request: Pending) => Job) {}

  /** Received and not yet handed to the socket (what `maxInFlight` bounds). */
  get unanswered(): number {
    return this.queue.length + this.backlog.length
  }

  /** The answer to write next, being prepared or ready. */
  get next(): Job | undefined {
    return this.queue[0]
  }

  add(request: Pending): void {
    this.backlog.push(request)
  }

  /** Start preparing the next requests, up to PREFETCH; none while the socket is stalled. */
  fill(stalled: boolean): void {
    while (!stalled && this.queue.length < PREFETCH && this.backlog.length > 0) {
      this.queue.push(this.start(this.backlog.shift()!))
    }
  }

  /** Hand the next answer to the connection, which disposes it from now on. */
  take(): Job | undefined {
    return this.queue.shift()
  }

  /**
   * Give back read-ahead while the connection holds more than its share of
   * the budget and others wait: the newest prepared answers (never one whose
   * buffer a read is filling, nor the next one to write unless the socket is
   * stalled) go back to the backlog and are prepared again later, within the
   * share.
   */
  giveBack(stalled: boolean, overShare: () => boolean, returned: () => void): void {
    while (this.queue.length > (stalled ? 0 : 1) && overShare()) {
      const tail = this.queue[this.queue.length - 1]!
      if (!tail.sheddable) break
      this.queue.pop()
      tail.dispose()
      this.backlog.unshift(tail.request)
      returned()
    }
  }

  /** The connection is gone: dispose every job still held, forget the backlog. */
  close(): void {
    for (const job of this.queue.splice(0)) job.dispose()
    this.backlog.length = 0
  }
}
