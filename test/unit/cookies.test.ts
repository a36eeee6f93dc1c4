import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { COOKIE } from '../../src/core/discovery/announcement.js'
import { AnswerCookies, COOKIE_EPOCH_MS } from '../../src/core/discovery/answer-cookies.js'
import { ASK_AGAIN_GAP_MS, CookieJar, MAX_COOKIES } from '../../src/core/discovery/cookie-jar.js'

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.'))
const ipv6 = fc
  .array(fc.nat(0xffff), { minLength: 8, maxLength: 8 })
  .map((parts) => parts.map((p) => p.toString(16)).join(':'))
const address = fc.oneof(ipv4, ipv6)

describe("an announcer's cookies (answer-cookies.ts)", () => {
  it('property: a cookie proves the address it was made for, in its epoch and the next, and no other address', () => {
    fc.assert(
      fc.property(address, address, fc.integer({ min: 0, max: 2 ** 40 }), (a, b, start) => {
        let now = start
        const cookies = new AnswerCookies(() => now)
        const cookie = cookies.cookieFor(a)
        assert.match(cookie, COOKIE)
        assert.ok(cookies.proves(cookie, a))
        if (a !== b) assert.equal(cookies.proves(cookie, b), false)
        now = (Math.floor(start / COOKIE_EPOCH_MS) + 1) * COOKIE_EPOCH_MS + COOKIE_EPOCH_MS - 1
        assert.ok(cookies.proves(cookie, a), 'good through the next epoch')
        now += 1
        assert.equal(cookies.proves(cookie, a), false, 'not after it')
      }),
      { numRuns: 300 },
    )
  })

  it("proves nothing for another announcer's cookie, a changed one or one of the wrong length; an address's forms agree", () => {
    const cookies = new AnswerCookies()
    const cookie = cookies.cookieFor('10.0.0.1')
    assert.equal(new AnswerCookies().proves(cookie, '10.0.0.1'), false, 'each announcer draws its own key')
    const flipped = (cookie[0] === '0' ? '1' : '0') + cookie.slice(1)
    assert.equal(cookies.proves(flipped, '10.0.0.1'), false)
    assert.equal(cookies.proves(cookie.slice(2), '10.0.0.1'), false)
    assert.equal(cookies.proves('', '10.0.0.1'), false)
    assert.ok(cookies.proves(cookie, '::ffff:10.0.0.1'), 'the mapped form is the same host')
    assert.equal(cookies.cookieFor('fd00::1'), cookies.cookieFor('fd00:0:0::1'))
  })
})

describe("a querier's cookies (cookie-jar.ts)", () => {
  it('keeps the last cookie of each peer; asks again for a withheld answer at most once a second a peer', () => {
    let now = 0
    const jar = new CookieJar(() => now)
    const cookie = (n: number): string => n.toString(16).padStart(32, '0')
    assert.equal(jar.cookieFor('10.0.0.1', 7000), undefined)
    assert.equal(jar.took('10.0.0.1', 7000, { type: 'cookie', cookie: cookie(1), answered: true }), false)
    assert.equal(jar.cookieFor('10.0.0.1', 7000), cookie(1))
    assert.equal(jar.cookieFor('10.0.0.1', 7001), undefined, 'by address and port')
    assert.equal(jar.took('10.0.0.1', 7000, { type: 'cookie', cookie: cookie(2), answered: false }), true)
    assert.equal(jar.cookieFor('::ffff:10.0.0.1', 7000), cookie(2), 'the newest, by the canonical address')
    now += ASK_AGAIN_GAP_MS - 1
    assert.equal(jar.took('10.0.0.1', 7000, { type: 'cookie', cookie: cookie(3), answered: false }), false)
    assert.equal(jar.took('10.0.0.2', 7000, { type: 'cookie', cookie: cookie(3), answered: false }), true, 'per peer')
    now += 1
    assert.equal(jar.took('10.0.0.1', 7000, { type: 'cookie', cookie: cookie(4), answered: false }), true)
  })

  it('property: asks again only for a withheld answer, at most once a gap a peer, whatever the notices', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(20), fc.boolean(), fc.nat(400)), { maxLength: 500 }), (notices) => {
        let now = 0
        const jar = new CookieJar(() => now)
        const lastAsked = new Map<number, number>()
        for (const [peer, answered, wait] of notices) {
          now += wait
          const cookie = { type: 'cookie' as const, cookie: peer.toString(16).padStart(32, '0'), answered }
          if (!jar.took(`10.0.0.${peer}`, 7000, cookie)) continue
          assert.equal(answered, false)
          assert.ok(now - (lastAsked.get(peer) ?? Number.NEGATIVE_INFINITY) >= ASK_AGAIN_GAP_MS)
          lastAsked.set(peer, now)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('holds at most MAX_COOKIES, the least recently told dropped first', () => {
    const jar = new CookieJar()
    const at = (p: number): string => `10.${p >> 16}.${(p >> 8) & 255}.${p & 255}`
    for (let p = 0; p < 3 * MAX_COOKIES; p++)
      jar.took(at(p), 7000, { type: 'cookie', cookie: p.toString(16).padStart(32, '0'), answered: true })
    let held = 0
    for (let p = 0; p < 3 * MAX_COOKIES; p++) if (jar.cookieFor(at(p), 7000) !== undefined) held++
    assert.equal(held, MAX_COOKIES)
    assert.equal(jar.cookieFor(at(0), 7000), undefined)
    assert.ok(jar.cookieFor(at(3 * MAX_COOKIES - 1), 7000))
  })
})
