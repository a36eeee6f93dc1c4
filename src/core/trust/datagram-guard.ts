import {
  looksSealed,
  MAX_SEALED_PAYLOAD,
  openDatagram,
  ReplayFilter,
  SEAL_OVERHEAD,
  sealDatagram,
} from './sealed-datagram.js'

/**
 * A private swarm's seal on discovery traffic, at the boundary where
 * datagrams leave and arrive (announcer and listener): every payload sent is
 * sealed; every datagram received must open, be fresh (sent within the
 * stale-after window of our clock) and not be a replay, or it is dropped
 * with its reason (the caller counts it; nothing else happens). Plain
 * datagrams are dropped too: inside a private swarm, a stranger's
 * announcement must not reach the dictionary.
 */

export type DatagramDrop = 'plain' | 'size' | 'magic' | 'auth' | 'stale' | 'future' | 'replay'

export class DatagramGuard {
  /** The largest payload that still fits a datagram once sealed. */
  readonly maxPayload = MAX_SEALED_PAYLOAD
  /** What sealing adds to a payload. */
  readonly overhead = SEAL_OVERHEAD
  private readonly replays: ReplayFilter

  constructor(
    private readonly key: Buffer,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.replays = new ReplayFilter(windowMs)
  }

  seal(payload: Uint8Array): Buffer {
    return sealDatagram(this.key, payload, this.now())
  }

  open(datagram: Uint8Array): { payload: Buffer } | { drop: DatagramDrop } {
    if (!looksSealed(datagram)) return { drop: 'plain' }
    const now = this.now()
    const opened = openDatagram(this.key, datagram, now, this.windowMs)
    if ('failure' in opened) return { drop: opened.failure }
    if (!this.replays.admit(opened.nonce, opened.sentAt, now)) return { drop: 'replay' }
    return { payload: opened.payload }
  }
}
