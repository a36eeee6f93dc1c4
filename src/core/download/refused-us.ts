import { counted, someOf } from '../counted.js'
import { P2PError } from '../errors.js'
import { printable } from '../printable.js'

/**
 * The peers that refused this download's key: their allow-list leaves our
 * peer ID out, and they said so inside a session with the key we dialled
 * (transfer/allow-refusal.ts), so no one else can say it for them. Each is
 * used no more (trusted-peers.ts `refuse`); here they are counted, by pool
 * key, for what the download says when it ends without the data.
 *
 * A refusal speaks only for the peer that made it: a download ends on
 * refusals (E_AUTH, naming them and what to do, `error`) only when no other
 * peer is left to ask. Among peers the download vouches for (its own
 * --allow, which it dials alone, or a private swarm, whose announcements only
 * members can make) it does so without waiting out --wait, once
 * REFUSED_SETTLE_MS passed since the last one with nobody new heard
 * (`settled`; the race and the stall watch check the rest: manifest-fetch.ts,
 * stall-watch.ts). In an open swarm any stranger can announce the file and
 * refuse, so there it ends at --wait, as before, E_AUTH all the same (an
 * attack on the first version: a stranger's refusal ended a download that
 * had not yet heard the seeder, 2 s in). A peer that could still serve keeps
 * the download going, and what ends it otherwise names the refusals only
 * beside its own reason (`clause`).
 */

/**
 * How long a download whose every known holder refused it waits for another before it ends: other holders answer
 * its query within moments (a seeder answers at once; protocol.md §2), and one heard later is asked at once.
 */
export const REFUSED_SETTLE_MS = 2_000

/** Refusals remembered (a stranger answering from a fresh port each time is one more each): past it, counted only. */
const MAX_REMEMBERED = 1024

export class RefusedUs {
  /** By pool key (address:port): the peer ID that refused there. */
  private readonly byKey = new Map<string, string>()
  private uncounted = 0
  private lastAt = -Infinity

  constructor(
    private readonly now: () => number,
    /** Ours, to be given to their owners (absent: a library caller without one to say). */
    private readonly ourPeerId?: string,
    /** Whether the peers that may refuse us are vouched for (our --allow, a private swarm): refusals settle early. */
    private readonly vouched = true,
  ) {}

  /** The peer at `key` (address:port), holding `peerId`, refused our key. */
  add(key: string, peerId: string): void {
    this.lastAt = this.now()
    if (this.byKey.has(key)) return
    if (this.byKey.size < MAX_REMEMBERED) this.byKey.set(key, peerId)
    else this.uncounted++
  }

  has(key: string): boolean {
    return this.byKey.has(key)
  }

  get size(): number {
    return this.byKey.size + this.uncounted
  }

  /**
   * Some peer we vouch for refused us, the last REFUSED_SETTLE_MS ago or longer: if nobody else is left, refusals
   * are why, before --wait. Never in an open swarm (a stranger's refusal would end the download early).
   */
  settled(): boolean {
    return this.vouched && this.size > 0 && this.now() - this.lastAt >= REFUSED_SETTLE_MS
  }

  /**
   * A download that got nothing else: E_AUTH (exit 4), `lost` (what it did not get) followed by who refused, of the
   * peers that have `it`, and what to do.
   */
  error(lost: string, it = 'it'): P2PError {
    const one = this.size === 1
    const ours = this.ourPeerId === undefined ? '' : ` (${this.ourPeerId})`
    const who = one ? `the peer that has ${it}` : `${this.size} peers that have ${it}`
    return new P2PError(
      'E_AUTH',
      `${lost}: ${who}, ${this.named()}, refused us: our peer ID${ours} is not on ${one ? 'its' : 'their'} allow-list; give ${one ? 'its owner' : 'their owners'} our peer ID (p2p id prints it) to add to ${one ? 'its' : 'their'} --allow`,
      { refusals: this.size },
    )
  }

  /** Beside another reason: "; 1 peer refused us (127.0.0.1:4000 (peer ID …): its allow-list leaves our peer ID out)". */
  clause(): string {
    if (this.size === 0) return ''
    const one = this.size === 1
    return `; ${counted(this.size, 'peer')} refused us (${this.named()}: ${one ? 'its' : 'their'} allow-list leaves our peer ID out)`
  }

  /** "127.0.0.1:4000 (peer ID …)", "a (peer ID …), b (…) and 2 more": escaped (a key from a dictionary file may be any text). */
  private named(): string {
    const each = [...this.byKey].map(([key, peerId]) => `${printable(key, 80)} (peer ID ${printable(peerId, 80)})`)
    return someOf(each, 3, this.uncounted > 0)
  }
}
