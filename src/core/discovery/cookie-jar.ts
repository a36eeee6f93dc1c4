import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { LruMap } from '../lru-map.js'
import type { CookieNotice } from './announcement.js'
import { peerKey } from './known-peers-file.js'

/** Cookies kept, at most (one per named or known peer we query: known peers are capped far below). */
export const MAX_COOKIES = 1024
/** A peer that withheld its answer is asked again at once, but not more often than this. */
export const ASK_AGAIN_GAP_MS = 1000

/**
 * The cookies the peers we query by unicast gave us (answer-cookies.ts has
 * the answerer's side), sent with our next queries to them, so that theirs
 * are answered from the budget strangers forging sources cannot spend. A
 * notice that says the answer was withheld has its peer asked again with
 * the cookie, at most once a second per peer: a peer that withholds every
 * answer costs one round of queries a second (a known peer's: two, its one
 * item and everything).
 *
 * Each query carries our nonce for the peer it goes to (an HMAC of its
 * address and port under a key drawn at start, as DNS's client cookie: one
 * per peer for the process's life), and only a notice that says it back is
 * taken: a stranger forging the peer's address, who does not see our
 * unicast queries, could otherwise replace the peer's cookie with its own
 * and spend our asking again, so that the peer's answers stayed withheld
 * (docs/security.md has the attack).
 */
export class CookieJar {
  private readonly cookies = new LruMap<string, { cookie: string; askedAgainAt: number }>()
  private readonly key = randomBytes(32)

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Our nonce for `address`:`port`, sent with every query to it. */
  nonceFor(address: string, port: number): string {
    return createHmac('sha256', this.key).update(peerKey(address, port)).digest('hex').slice(0, 16)
  }

  /** Whether the notice says back our nonce for `address`:`port` (else a stranger made it). */
  ours(address: string, port: number, notice: CookieNotice): boolean {
    return this.saysOurNonce(address, port, notice.nonce)
  }

  /** Whether `nonce` is ours for `address`:`port` (an answer's or a notice's, said back). */
  saysOurNonce(address: string, port: number, nonce: string | undefined): boolean {
    const said = Buffer.from(nonce ?? '', 'hex')
    const ours = Buffer.from(this.nonceFor(address, port), 'hex')
    return said.length === ours.length && timingSafeEqual(said, ours)
  }

  /** The cookie `address`:`port` gave us last, if any. */
  cookieFor(address: string, port: number): string | undefined {
    return this.cookies.get(peerKey(address, port))?.cookie
  }

  /** Keep the notice's cookie; whether to ask `address`:`port` again now (its answer withheld, not asked again lately). */
  took(address: string, port: number, notice: CookieNotice): boolean {
    const key = peerKey(address, port)
    const askedAgainAt = this.cookies.get(key)?.askedAgainAt ?? Number.NEGATIVE_INFINITY
    const now = this.now()
    const again = !notice.answered && now - askedAgainAt >= ASK_AGAIN_GAP_MS
    this.cookies.touch(key, { cookie: notice.cookie, askedAgainAt: again ? now : askedAgainAt })
    if (this.cookies.size > MAX_COOKIES) this.cookies.deleteOldest()
    return again
  }
}
