import type { Logger } from '../log.js'
import type { DatagramGuard } from '../trust/datagram-guard.js'
import { looksSealed, nonceOf } from '../trust/sealed-datagram.js'

export interface ListenerStats {
  received: number
  dropped: number
  droppedByReason: Record<string, number>
  /** Valid claims left out by the `keep` filter (not drops: nothing was wrong with them). */
  unwanted: number
}

/** Addresses told about once that their datagrams are another swarm's (a flood of sources cannot grow it). */
const MAX_WARNED = 256
/** Our sealed queries whose answers open, at most (each is kept for the seal's window). */
const MAX_QUERIES_ANSWERED = 64

/**
 * What a listener takes in of the datagrams it receives: plain outside a
 * private swarm, opened by its guard inside one (on the query socket, only
 * answers to the queries it sealed within the seal's window: `sealQuery`);
 * every drop counted by reason and logged at debug level, and said once per
 * address where the user can act on it (a private swarm we are not in, or
 * another secret).
 */
export class DatagramIntake {
  readonly stats: ListenerStats = { received: 0, dropped: 0, droppedByReason: {}, unwanted: 0 }
  private readonly warned = new Set<string>()
  /** Our sealed queries: nonce and when (performance.now()), oldest first. */
  private readonly queries: Array<{ nonce: Buffer; at: number }> = []

  constructor(
    private readonly guard: DatagramGuard | undefined,
    private readonly log: Logger,
    /** How long an answer may take to come back: the seal's window. */
    private readonly windowMs: number,
  ) {}

  /** A query as it goes out: sealed in a private swarm, its nonce kept so that its answers open. */
  sealQuery(query: Buffer): Buffer {
    if (!this.guard) return query
    const sealed = this.guard.seal(query)
    this.queries.push({ nonce: nonceOf(sealed), at: performance.now() })
    if (this.queries.length > MAX_QUERIES_ANSWERED) this.queries.shift()
    return sealed
  }

  /** The datagram's payload, or undefined when it is dropped. `answer`: it came to the query socket. */
  unseal(datagram: Buffer, address: string, answer: boolean): Buffer | undefined {
    this.stats.received++
    const guard = this.guard
    if (!guard) {
      if (!looksSealed(datagram)) return datagram
      this.drop('sealed', address, datagram.length)
      this.warnOnce(address, 'sealed datagrams of a private swarm: give its secret (--secret) to see what it offers')
      return undefined
    }
    const opened = guard.open(datagram, answer ? this.answered() : undefined)
    if ('payload' in opened) return opened.payload
    this.drop(opened.drop, address, datagram.length)
    // On the query socket it may be an answer to a query we no longer keep: nothing to tell the user.
    if (opened.drop === 'auth' && !answer)
      this.warnOnce(address, 'sealed datagrams our secret does not open: another private swarm, or another secret')
    return undefined
  }

  /** Nonces of our queries whose answers may still come. */
  private answered(): Buffer[] {
    const since = performance.now() - this.windowMs
    while (this.queries.length > 0 && this.queries[0]!.at < since) this.queries.shift()
    return this.queries.map((q) => q.nonce)
  }

  drop(reason: string, address: string, bytes: number, err?: unknown): void {
    this.stats.dropped++
    this.stats.droppedByReason[reason] = (this.stats.droppedByReason[reason] ?? 0) + 1
    this.log.debug(
      { from: address, bytes, reason, ...(err ? { err: (err as Error).message } : {}) },
      'datagram dropped',
    )
  }

  private warnOnce(address: string, message: string): void {
    if (this.warned.has(address) || this.warned.size >= MAX_WARNED) return
    this.warned.add(address)
    this.log.warn({ from: address, code: 'E_AUTH' }, message)
  }
}
