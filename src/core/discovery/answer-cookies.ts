import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { canonicalAddress } from './unicast-address.js'

/**
 * An announcer's cookies (as DNS cookies, RFC 7873, and QUIC's Retry tokens
 * do it): a querier that shows the cookie given to its address has proven
 * that it receives what is sent there, so its query is answered from a
 * budget of its own. Any host on the LAN can send queries from forged source
 * addresses, and with them spend the budget of answers to queries without a
 * cookie (an attacker pass, forty-eighth session: named and known peers on
 * other subnets got no answer); it cannot spend the budget of the queriers
 * it cannot hear. A cookie is an HMAC of the address under a key this
 * announcer draws at start, in an epoch of COOKIE_EPOCH_MS: nothing is kept
 * per querier, and a cookie is good for one to two epochs.
 */

/** How long a cookie's epoch lasts: one is good for the epoch it was made in and the next. */
export const COOKIE_EPOCH_MS = 10 * 60_000
/** A cookie's bytes (32 hex digits on the wire). */
const COOKIE_BYTES = 16

export class AnswerCookies {
  private readonly key = randomBytes(32)

  constructor(private readonly now: () => number = Date.now) {}

  /** The cookie for `address` now. */
  cookieFor(address: string): string {
    return this.mac(address, this.epoch()).toString('hex')
  }

  /**
   * Whether `cookie` is one this announcer gave `address` in this epoch ('current') or the last ('previous': the
   * querier is given a new one with the answer, so a cookie in use never lapses), or neither (undefined).
   */
  proves(cookie: string, address: string): 'current' | 'previous' | undefined {
    const shown = Buffer.from(cookie, 'hex')
    if (shown.length !== COOKIE_BYTES) return undefined
    const epoch = this.epoch()
    if (timingSafeEqual(shown, this.mac(address, epoch))) return 'current'
    return timingSafeEqual(shown, this.mac(address, epoch - 1)) ? 'previous' : undefined
  }

  private epoch(): number {
    return Math.floor(this.now() / COOKIE_EPOCH_MS)
  }

  private mac(address: string, epoch: number): Buffer {
    return createHmac('sha256', this.key)
      .update(`${epoch}|${canonicalAddress(address)}`)
      .digest()
      .subarray(0, COOKIE_BYTES)
  }
}
