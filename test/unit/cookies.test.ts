import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import fc from 'fast-check'
import { COOKIE, encodeQuery, NONCE, type Query } from '../../src/core/discovery/announcement.js'
import { decodeQuery } from '../../src/core/discovery/announcement-decode.js'
import { AnswerCookies, COOKIE_EPOCH_MS } from '../../src/core/discovery/answer-cookies.js'
import { ASK_AGAIN_GAP_MS, CookieJar, MAX_COOKIES } from '../../src/core/discovery/cookie-jar.js'
import { KnownPeers } from '../../src/core/discovery/known-peers.js'
import { MAX_MISSES } from '../../src/core/discovery/known-peers-file.js'
import { UnicastQueries } from '../../src/core/discovery/unicast-queries.js'
import { silentLogger } from '../../src/core/log.js'
import { tmpDir } from '../helpers/files.js'

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
        assert.equal(cookies.proves(cookie, a), 'current')
        if (a !== b) assert.equal(cookies.proves(cookie, b), undefined)
        now = (Math.floor(start / COOKIE_EPOCH_MS) + 1) * COOKIE_EPOCH_MS + COOKIE_EPOCH_MS - 1
        assert.equal(cookies.proves(cookie, a), 'previous', 'good through the next epoch (then renewed)')
        now += 1
        assert.equal(cookies.proves(cookie, a), undefined, 'not after it')
      }),
      { numRuns: 300 },
    )
  })

  it("proves nothing for another announcer's cookie, a changed one or one of the wrong length; an address's forms agree", () => {
    const cookies = new AnswerCookies()
    const cookie = cookies.cookieFor('10.0.0.1')
    assert.equal(new AnswerCookies().proves(cookie, '10.0.0.1'), undefined, 'each announcer draws its own key')
    const flipped = (cookie[0] === '0' ? '1' : '0') + cookie.slice(1)
    assert.equal(cookies.proves(flipped, '10.0.0.1'), undefined)
    assert.equal(cookies.proves(cookie.slice(2), '10.0.0.1'), undefined)
    assert.equal(cookies.proves('', '10.0.0.1'), undefined)
    assert.equal(cookies.proves(cookie, '::ffff:10.0.0.1'), 'current', 'the mapped form is the same host')
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

describe("a listener's unicast queries (unicast-queries.ts): a cookie notice counts only from a peer asked, saying our nonce back", () => {
  it('drops a forged notice (no nonce, another nonce, another port) without keeping its cookie or asking again; takes the honest one', () => {
    const sent: Array<{ address: string; port: number; query: Query }> = []
    const dropped: string[] = []
    const queries = new UnicastQueries(
      {
        canReach: () => true,
        encode: (want, tokens) => encodeQuery(want, 1200, tokens),
        send: (bytes, address, port) => sent.push({ address, port, query: decodeQuery(bytes)! }),
        drop: (reason) => dropped.push(reason),
      },
      { sealed: false, log: silentLogger() },
    )
    const peer = { address: '10.0.0.5', port: 47011, name: 'seeder' }
    queries.query([peer], { name: 'a.bin' })
    assert.equal(sent.length, 1)
    const nonce = sent[0]!.query.nonce
    assert.match(nonce ?? '', NONCE)
    const forged = 'f0'.repeat(16)
    for (const notice of [
      { type: 'cookie' as const, cookie: forged, answered: false },
      { type: 'cookie' as const, cookie: forged, answered: false, nonce: '0'.repeat(16) },
    ])
      queries.tookCookie(peer.address, peer.port, notice)
    queries.tookCookie(peer.address, peer.port + 1, { type: 'cookie', cookie: forged, answered: false, nonce })
    assert.deepEqual(dropped, ['nonce', 'nonce', 'unasked'])
    assert.equal(sent.length, 1, 'no query for a forged notice')
    const honest = 'c0'.repeat(16)
    queries.tookCookie(peer.address, peer.port, { type: 'cookie', cookie: honest, answered: false, nonce })
    assert.equal(sent.length, 2, 'asked again at once')
    assert.deepEqual(sent[1]!.query, { type: 'query', want: { name: 'a.bin' }, cookie: honest, nonce })
    queries.again([peer], undefined)
    assert.equal(sent[2]!.query.cookie, honest, 'kept for the next queries')
    queries.tookCookie(peer.address, peer.port, { type: 'cookie', cookie: forged, answered: true })
    queries.again([peer], undefined)
    assert.equal(sent[3]!.query.cookie, honest, 'a forged notice replaces nothing')
    // Asked for everything, withheld: asked again for everything (a known peer asked for one file it lacks is silent).
    const other = { address: '10.0.0.6', port: 47011, name: 'known' }
    queries.again([other], undefined)
    const otherNonce = sent[4]!.query.nonce
    queries.tookCookie(other.address, other.port, {
      type: 'cookie',
      cookie: honest,
      answered: false,
      nonce: otherNonce,
    })
    assert.deepEqual(sent[5]!.query, { type: 'query', want: {}, cookie: honest, nonce: otherNonce })
  })
})

describe("a querier's nonces (cookie-jar.ts)", () => {
  it("property: one per peer (address and port, the address's forms alike), another for another peer or another jar", () => {
    const jar = new CookieJar()
    const other = new CookieJar()
    fc.assert(
      fc.property(address, fc.integer({ min: 1, max: 65535 }), (a, port) => {
        const nonce = jar.nonceFor(a, port)
        assert.match(nonce, NONCE)
        assert.equal(jar.nonceFor(a, port), nonce)
        assert.notEqual(jar.nonceFor(a, (port % 65535) + 1), nonce)
        assert.notEqual(other.nonceFor(a, port), nonce)
      }),
      { numRuns: 200 },
    )
    assert.equal(jar.nonceFor('::ffff:10.0.0.1', 7), jar.nonceFor('10.0.0.1', 7))
  })
})

/** A listener's unicast queries with a known_peers.json of their own, each query sent recorded as decoded. */
/** A listener's queries and its known peers, from `path` (known_peers.json) when given: a new process's. */
async function withKnownPeers(t: TestContext, path?: string) {
  const sent: Array<{ address: string; port: number; query: Query }> = []
  const knownPeers = new KnownPeers(path ?? join(await tmpDir(t), 'known_peers.json'), { saveDelayMs: 60_000 })
  await knownPeers.load()
  const queries = new UnicastQueries(
    {
      canReach: () => true,
      encode: (want, tokens) => encodeQuery(want, 1200, tokens),
      send: (bytes, address, port) => sent.push({ address, port, query: decodeQuery(bytes)! }),
      drop: () => undefined,
    },
    { sealed: false, knownPeers, log: silentLogger() },
  )
  return { sent, knownPeers, queries }
}

describe("a listener's unicast queries: known peers recorded from answers (unicast-queries.ts)", () => {
  it('once a peer said our nonce back, an answer from its address and port without it records nothing; an older peer (none ever) is recorded', async (t) => {
    const { sent, knownPeers, queries } = await withKnownPeers(t)
    const seeder = { address: '10.0.0.5', port: 47011, name: 'seeder' }
    const older = { address: '10.0.0.6', port: 47011, name: 'older' }
    queries.query([seeder, older], undefined)
    const nonce = sent.find((s) => s.address === seeder.address)!.query.nonce!
    const idOf = (address: string) => knownPeers.list().find((p) => p.address === address)?.peer
    queries.answered(seeder.address, seeder.port, 'seederPeerId', nonce)
    assert.equal(idOf(seeder.address), 'seederPeerId')
    // A stranger forging the seeder's address and port (our query port is in every broadcast query).
    queries.answered(seeder.address, seeder.port, 'forgedPeerId', undefined)
    queries.answered(seeder.address, seeder.port, 'forgedPeerId', '0'.repeat(16))
    assert.equal(idOf(seeder.address), 'seederPeerId', 'the forged peer ID is not recorded')
    queries.answered(older.address, older.port, 'olderPeerId', undefined)
    assert.equal(idOf(older.address), 'olderPeerId', 'a peer that never says a nonce is recorded as before')
    await knownPeers.close()
  })

  it('asks a known peer for everything and for the one file wanted, both again with the cookie a withheld answer brought, and again at the requery', async (t) => {
    const { sent, knownPeers, queries } = await withKnownPeers(t)
    knownPeers.heard('10.0.0.7', 47011, 'knownPeerId')
    queries.query([], { name: 'a.bin' })
    // The one file first (a small answer, within a share of a spent budget), and everything (its silence is a miss).
    assert.deepEqual(
      sent.map((s) => [s.address, s.query.want]),
      [
        ['10.0.0.7', { name: 'a.bin' }],
        ['10.0.0.7', {}],
      ],
    )
    const nonce = sent[0]!.query.nonce
    const cookie = 'c0'.repeat(16)
    queries.tookCookie('10.0.0.7', 47011, { type: 'cookie', cookie, answered: false, nonce })
    assert.deepEqual(
      sent.slice(2).map((s) => [s.query.want, s.query.cookie]),
      [
        [{ name: 'a.bin' }, cookie],
        [{}, cookie],
      ],
      'both asked again with the cookie',
    )
    // Its answer to those refused too (nothing comes): a peer that sent a notice is there, and asked at the requery.
    queries.again([], { name: 'a.bin' })
    assert.deepEqual(
      sent.slice(4).map((s) => [s.address, s.query.want, s.query.cookie]),
      [['10.0.0.7', { name: 'a.bin' }, cookie]],
    )
    await knownPeers.close()
  })

  it('a known peer that withholds its answer with a notice saying our nonce back counts no miss at any start; a forged notice or a peer not known records nothing', async (t) => {
    const path = join(await tmpDir(t), 'known_peers.json')
    const first = await withKnownPeers(t, path)
    first.knownPeers.heard('10.0.0.7', 47011, 'knownPeerId')
    await first.knownPeers.close()
    const named = { address: '10.0.0.8', port: 47011, name: 'named' }
    const notice = (nonce: string | undefined) => ({
      type: 'cookie' as const,
      cookie: 'c0'.repeat(16),
      answered: false,
      nonce,
    })
    for (let start = 1; start <= MAX_MISSES + 1; start++) {
      const { sent, knownPeers, queries } = await withKnownPeers(t, path)
      const missesOf = (address: string) => knownPeers.list().find((p) => p.address === address)?.misses
      queries.query([named], { name: 'a.bin' })
      const nonceTo = (address: string) => sent.findLast((s) => s.address === address)!.query.nonce
      assert.equal(missesOf('10.0.0.7'), 1, 'a query awaits its answer')
      queries.tookCookie('10.0.0.7', 47011, notice('0'.repeat(16))) // a stranger forging the peer's address
      assert.equal(missesOf('10.0.0.7'), 1, 'a notice without our nonce proves nothing')
      queries.tookCookie('10.0.0.7', 47011, notice(nonceTo('10.0.0.7')))
      assert.equal(missesOf('10.0.0.7'), 0, `start ${start}: the notice proves, as an answer would, that it is there`)
      queries.tookCookie(named.address, named.port, notice(nonceTo(named.address)))
      await knownPeers.close()
    }
    const { knownPeers } = await withKnownPeers(t, path)
    assert.deepEqual(
      knownPeers.list().map((p) => [p.address, p.peer, p.misses]),
      [['10.0.0.7', 'knownPeerId', 0]],
      'kept with its peer ID; the named peer that only sent notices is not added',
    )
    await knownPeers.close()
  })
})
