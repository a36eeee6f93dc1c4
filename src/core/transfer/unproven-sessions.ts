/**
 * DHT sessions whose dialler has not yet returned the greeting's challenge (dht/greeting.ts): until it does, a
 * session holds no connection slot and is in no upload line, since its address is only what the engine's stream
 * sends to, not yet shown to be the dialler's (a hostile relay names any). At most `max` wait; a newcomer past
 * that closes one of the address (a global IPv6 address: its /64) waiting in the most places: of those, the one
 * waiting longest that the other side has sent nothing on (`heardFrom`: a session to an address a relay made up
 * never is, unless the relay sends on it itself), else the one waiting longest.
 *
 * Oldest first alone, a flood of made-up sessions turned the 256 places over in 0.7 s, and a dialler a second
 * away never got its answer in; silent ones first alone, a stranger dialling straight from 3 addresses, its
 * sessions sending and never returning the challenge, had each newcomer close the one honest session not yet
 * heard from (a dialler whose node is reachable is handed over before its first bytes come): 0 of 3 downloads
 * (attackers, fifty-fourth and fifty-fifth sessions). Each one leaves once: proven, closed, made to give way, or
 * dropped at the server's close.
 */
import { addressKey } from './admission.js'

/** How long a DHT session may take to answer the greeting once its stream opened (the seeder's openedTimeoutMs). */
export const UNPROVEN_DEADLINE_MS = 5000

export interface Unproven {
  destroy(): void
  readonly heardFrom: boolean
  /** The address its stream sends to now (a stream a relay had connect to its first packet's sender learns it late); grouped as admission.ts's `addressKey` does. */
  readonly remoteAddress: string | undefined
}

export class UnprovenSessions<S extends Unproven> {
  private readonly waiting = new Set<S>()

  private readonly max: number

  constructor(max: number) {
    // A newcomer always finds room: with none waiting there would be nobody to give way.
    this.max = Math.max(1, max)
  }

  get size(): number {
    return this.waiting.size
  }

  /** Holds `session`; returns the one closed to make room for it, if any. */
  add(session: S): S | undefined {
    let gaveWay: S | undefined
    if (this.waiting.size >= this.max) {
      gaveWay = this.giveWay()
      this.waiting.delete(gaveWay)
      gaveWay.destroy()
    }
    this.waiting.add(session)
    return gaveWay
  }

  /** Which waiting session makes room: asked only when full (each of the `max` waiting keyed once). */
  private giveWay(): S {
    const places = new Map<string, number>()
    const keys: string[] = []
    let most = 0
    for (const { remoteAddress } of this.waiting) {
      const address = addressKey(remoteAddress)
      keys.push(address)
      const held = (places.get(address) ?? 0) + 1
      places.set(address, held)
      most = Math.max(most, held)
    }
    let oldest: S | undefined
    let i = 0
    for (const waiting of this.waiting) {
      if (places.get(keys[i++]!) !== most) continue
      if (!waiting.heardFrom) return waiting
      oldest ??= waiting
    }
    if (oldest === undefined) throw new Error('unreachable: a full holder has a session waiting')
    return oldest
  }

  /**
   * Holds `session` until its greeting is done (`ready`), then hands it to `proven`, unless it was closed or made to
   * give way meanwhile; returns whether another waiting session was closed to make room for it.
   */
  hold<T extends S & { readonly ready: Promise<void>; readonly closed: boolean }>(
    session: T,
    proven: (session: T) => void,
  ): boolean {
    const gaveWay = this.add(session) !== undefined
    session.ready.then(
      () => {
        if (this.leave(session) && !session.closed) proven(session)
      },
      () => this.leave(session),
    )
    return gaveWay
  }

  /** It left (proven or closed): true when it was still waiting here. */
  leave(session: S): boolean {
    return this.waiting.delete(session)
  }

  /** The server is closing: every session still waiting is closed. */
  closeAll(): void {
    const all = [...this.waiting]
    this.waiting.clear()
    for (const session of all) session.destroy()
  }
}
