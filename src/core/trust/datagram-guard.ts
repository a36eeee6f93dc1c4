import {
  looksSealed,
  MAX_SEALED_PAYLOAD,
  nonceOf,
  type Opened,
  openDatagram,
  ReplayFilter,
  SEAL_OVERHEAD,
  sealDatagram,
} from './sealed-datagram.js'

/**
 * A private swarm's seal on discovery traffic, at the boundary where
 * datagrams leave and arrive (announcer and listener): every payload sent is
 * sealed; every datagram received must open, be fresh (sent within the
 * stale-after window of our clock, and not before the guard began unless it answers our query) and not be a
 * replay, or it is dropped
 * with its reason (the caller counts it; nothing else happens). Plain
 * datagrams are dropped too: inside a private swarm, a stranger's
 * announcement must not reach the dictionary. An answer is sealed to the
 * query it answers, and a querier opens on its query port only answers to
 * its own recent queries ('unbound': a member's datagram replayed there by
 * a stranger, from an address of its choosing, to be remembered as a peer).
 */

export type DatagramDrop = 'plain' | 'size' | 'magic' | 'auth' | 'stale' | 'future' | 'replay' | 'early' | 'unbound'

export class DatagramGuard {
  /** The largest payload that still fits a datagram once sealed. */
  readonly maxPayload = MAX_SEALED_PAYLOAD
  /** What sealing adds to a payload. */
  readonly overhead = SEAL_OVERHEAD
  private readonly replays: ReplayFilter
  /**
   * When this guard began, on the monotonic clock. Its replay record starts empty, so a datagram sent before then is
   * one it cannot tell from a replay: a stranger could hand a process, once, what a member sent before it started.
   * Unless it answers one of our queries, such a datagram is dropped ('early'): what it said comes again in the
   * next burst (a member whose clock is s behind ours is heard that way once we have run s; our queries' answers
   * at once). "Before" is our wall clock now less the monotonic time since, so a step of our clock moves it along;
   * past --stale-after, such a datagram is stale anyway.
   */
  private readonly startedAt: number

  constructor(
    private readonly key: Buffer,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly monotonic: () => number = () => performance.now(),
  ) {
    this.replays = new ReplayFilter(windowMs)
    this.startedAt = monotonic()
  }

  /** The largest payload whose sealed datagram is at most `maxDatagram` bytes. */
  payloadWithin(maxDatagram: number): number {
    return Math.min(maxDatagram - this.overhead, this.maxPayload)
  }

  /** `payload` sealed; `answering`: the nonce of the query it answers (`open`'s `nonce`). */
  seal(payload: Uint8Array, answering?: Uint8Array): Buffer {
    return sealDatagram(this.key, payload, this.now(), undefined, answering)
  }

  /**
   * The payload and its nonce, or why it is dropped. `answers`: the nonces of our recent queries, on the
   * socket their answers come to: only an answer to one of them opens there.
   */
  open(
    datagram: Uint8Array,
    answers?: readonly Uint8Array[],
  ): { payload: Buffer; nonce: Buffer } | { drop: DatagramDrop } {
    if (!looksSealed(datagram)) return { drop: 'plain' }
    const now = this.now()
    const opened =
      answers === undefined ? this.openAs(datagram, now, undefined) : this.openAnswer(datagram, now, answers)
    if ('drop' in opened) return opened
    if ('failure' in opened) return { drop: opened.failure }
    const running = this.monotonic() - this.startedAt
    if (answers === undefined && running < this.windowMs && opened.sentAt < now - running) return { drop: 'early' }
    if (!this.replays.admit(opened.nonce, opened.sentAt, now)) return { drop: 'replay' }
    return { payload: opened.payload, nonce: nonceOf(datagram) }
  }

  private openAnswer(datagram: Uint8Array, now: number, answers: readonly Uint8Array[]): Opened | { drop: 'unbound' } {
    for (const query of answers) {
      const opened = this.openAs(datagram, now, query)
      if (!('failure' in opened) || opened.failure !== 'auth') return opened
    }
    const unbound = this.openAs(datagram, now, undefined)
    return 'failure' in unbound && unbound.failure === 'auth' ? unbound : { drop: 'unbound' }
  }

  private openAs(datagram: Uint8Array, now: number, answering: Uint8Array | undefined): Opened {
    return openDatagram(this.key, datagram, now, this.windowMs, answering)
  }
}
