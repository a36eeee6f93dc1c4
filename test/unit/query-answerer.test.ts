import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import {
  ANSWER_FACTOR,
  type CookieNotice,
  type DiscoveryMessage,
  encodeQuery,
  type QueryWant,
} from '../../src/core/discovery/announcement.js'
import { decodeDatagram } from '../../src/core/discovery/announcement-decode.js'
import { encodeAnnouncements, type LocalFile } from '../../src/core/discovery/announcement-encode.js'
import { COOKIE_EPOCH_MS } from '../../src/core/discovery/answer-cookies.js'
import { answerTo } from '../../src/core/discovery/query-answer.js'
import { MAX_WAITING_FOR_SCAN, NOTICE_BYTES, QueryAnswerer } from '../../src/core/discovery/query-answerer.js'
import { silentLogger } from '../../src/core/log.js'
import { SEAL_OVERHEAD } from '../../src/core/trust/sealed-datagram.js'
import { linkTo } from '../helpers/announcer-link.js'

const PEER = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'
const NAMES = ['a.bin', 'b.bin', 'c.bin', 'naïve café.txt']
const id = (n: number): string => n.toString(16).padStart(64, '0')

const file = (n: number): fc.Arbitrary<LocalFile> =>
  fc
    .record({ name: fc.constantFrom(...NAMES), bits: fc.array(fc.boolean(), { maxLength: 64 }) })
    .map(({ name, bits }) => {
      const have = new Bitfield(bits.length)
      for (const [i, bit] of bits.entries()) if (bit) have.set(i)
      return { id: id(n), name, size: bits.length * 4096, have }
    })
const files = fc.integer({ min: 0, max: 40 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => file(i))))
/** Every file, one id (maybe of no file), one name (maybe of no file), or both. */
const want: fc.Arbitrary<QueryWant> = fc.oneof(
  fc.constant({}),
  fc.record({ id: fc.integer({ min: 0, max: 45 }).map(id) }),
  fc.record({ name: fc.constantFrom(...NAMES, 'nobody.bin') }),
  fc.record({ id: fc.integer({ min: 0, max: 45 }).map(id), name: fc.constantFrom(...NAMES) }),
)
const format = fc
  .record({
    tcpPort: fc.integer({ min: 1, max: 65535 }),
    transport: fc.constantFrom(undefined, 'noise' as const),
    intervalMs: fc.integer({ min: 100, max: 120_000 }),
    // Datagrams of at least 900 bytes: full ones hold more than the 400 bytes the cap on packing assumes.
    maxBytes: fc.integer({ min: 900, max: 1200 }),
    // A private swarm's datagrams (padded to the largest payload, then sealed: one size each), or plain ones.
    sealed: fc.boolean(),
  })
  // As the answerer works it out: the largest payload and the seal.
  .map(({ sealed, ...f }) => ({ ...f, sealedBytes: sealed ? f.maxBytes + SEAL_OVERHEAD : undefined }))
const queryBytes = fc.oneof(fc.constantFrom(22, 1200), fc.integer({ min: 0, max: 4000 }))

describe("an announcer's answer to a query, from what it last announced (query-answerer.ts)", () => {
  it('holds only the files asked for, within ANSWER_FACTOR × the query, a "more" notice for the rest; all of them when they fit', () => {
    fc.assert(
      fc.property(files, want, queryBytes, format, (local, w, bytes, f) => {
        const answer = answerTo({ peer: PEER, files: local }, w, bytes, f)
        const asked =
          w.id === undefined && w.name === undefined ? local : local.filter((l) => l.id === w.id || l.name === w.name)
        assert.equal(answer.asked, asked.length)
        assert.ok(answer.whole <= asked.length)
        const sizes = answer.datagrams.map((d) => d.length)
        assert.equal(
          answer.bytes,
          sizes.reduce((s, n) => s + (f.sealedBytes ?? n), 0),
          'every datagram counted as sent, padded and sealed in a private swarm',
        )
        assert.ok(answer.bytes <= ANSWER_FACTOR * bytes, `${answer.bytes} bytes answer a ${bytes}-byte query`)
        for (const n of sizes) assert.ok(n <= f.maxBytes)
        if (asked.length === 0) return assert.equal(answer.datagrams.length, 0, 'nothing asked: silence, no goodbye')

        const messages = answer.datagrams.map((d) => decodeDatagram(d))
        const notice = messages.at(-1)?.type === 'more' ? messages.pop() : undefined
        if (answer.datagrams.length > 0 && answer.whole < asked.length)
          assert.deepEqual(notice, {
            type: 'more',
            omitted: asked.length - answer.whole,
            interval: f.intervalMs / 1000,
          })
        else assert.equal(notice, undefined)
        const said = new Set<string>()
        for (const m of messages) {
          assert.ok(m.type === 'announce', 'announcements, then at most one notice, last')
          assert.equal(m.peer, PEER)
          assert.equal(m.port, f.tcpPort)
          assert.equal(m.transport, f.transport)
          for (const a of m.files) said.add(a.id)
        }
        const askedIds = new Set(asked.map((a) => a.id))
        for (const s of said) assert.ok(askedIds.has(s), 'only files asked for')
        for (const a of asked.slice(0, answer.whole)) assert.ok(said.has(a.id), 'the files held whole are in it')

        // When every file asked for fits the budget, the answer is all of them, as a burst would announce them.
        const all = encodeAnnouncements(PEER, f.tcpPort, asked, f.maxBytes, f.transport)
        if (all.reduce((s, d) => s + (f.sealedBytes ?? d.length), 0) <= ANSWER_FACTOR * bytes) {
          assert.equal(answer.whole, asked.length)
          assert.deepEqual(answer.datagrams, all)
        }
      }),
      { numRuns: 1000 },
    )
  })

  it('holds only a few queries while the first scan runs and answers them from it; the rest are refused and counted', async () => {
    let scanned: (() => void) | undefined
    const firstScan = new Promise<void>((resolve) => {
      scanned = resolve
    })
    let announced: { peer: string; files: LocalFile[] } | undefined
    const answerer = new QueryAnswerer(
      { tcpPort: 47010, intervalMs: 5000, answerBytesPerSourcePerS: 1e9, answerBytesPerS: 1e9 },
      linkTo(() => announced, { bursting: () => (announced ? undefined : firstScan) }),
      silentLogger(),
    )
    const query = Buffer.from(`{"v":1,"type":"query"}${' '.repeat(1178)}`)
    let replies = 0
    const flood = 10 * MAX_WAITING_FOR_SCAN
    for (let i = 0; i < flood; i++)
      answerer.onMessage({
        bytes: query,
        from: { address: `10.0.${i >> 8}.${i & 255}`, port: 40000, family: 4 },
        toHost: true,
        reply: async (payload) => {
          if (decodeDatagram(payload).type !== 'cookie') replies++
          return true
        },
      })
    assert.equal(answerer.stats.queries, flood)
    assert.equal(answerer.stats.refused, flood - MAX_WAITING_FOR_SCAN, 'all but the few held are refused at once')
    announced = { peer: PEER, files: [{ id: id(1), name: 'a.bin', size: 4096, have: Bitfield.full(1) }] }
    scanned?.()
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(answerer.stats.answers, MAX_WAITING_FOR_SCAN, 'the held ones answered from the first scan')
    assert.equal(replies, MAX_WAITING_FOR_SCAN)
  })

  it('answers only one host by unicast, and a broadcast query where the bursts go (counted once however many)', async () => {
    const files = Array.from({ length: 30 }, (_, n) => ({
      id: id(n),
      name: `f${n}.bin`,
      size: 4096,
      have: Bitfield.full(1),
    }))
    const targets = Array.from({ length: 8 }, (_, i): [string, number] => [`10.${i}.0.255`, 47011])
    const sent: string[] = []
    let bound = true
    const answerer = new QueryAnswerer(
      {
        tcpPort: 47010,
        intervalMs: 5000,
        interfaces: () => [
          {
            name: 'eth0',
            flags: undefined,
            internal: false,
            ipv4: [{ address: '10.48.2.1', netmask: '255.255.255.0' }],
            ipv6: [],
          },
        ],
        unicastAddresses: ['10.48.2.1', 'fd48::2', '::1'],
      },
      {
        announced: () => ({ peer: PEER, files }),
        bursting: () => undefined,
        open: () => true,
        maxBytes: () => 1200,
        seal: (payload) => payload,
        burstTargets: (family) => (family === 4 ? targets : []),
        knowsHostAddresses: () => bound,
        send: async (_payload, address) => {
          sent.push(address)
          return true
        },
      },
      silentLogger(),
    )
    const replies: string[] = []
    const query = (address: string, toHost: boolean, family: 4 | 6 = 4): void =>
      answerer.onMessage({
        bytes: Buffer.from(`{"v":1,"type":"query"}${' '.repeat(1178)}`),
        from: { address, port: 9999, family },
        toHost,
        reply: async (payload) => {
          if (decodeDatagram(payload).type !== 'cookie') replies.push(address)
          return true
        },
      })
    // Sent to this host: one host only. A subnet's broadcast address (announced on or not), a group, our own IPv6.
    for (const source of ['10.48.2.255', '10.3.0.255', '224.0.0.1', '0.0.0.0']) query(source, true)
    for (const source of ['fd48::2', 'ff02::1']) query(source, true, 6)
    assert.equal(answerer.stats.badSource, 6)
    query('10.48.2.7', true)
    query('::1', true, 6)
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual([...new Set(replies)].sort(), ['10.48.2.7', '::1'], 'only the two honest sources answered')
    const datagrams = replies.filter((r) => r === '::1').length
    // By broadcast: to the eight broadcast addresses, a full answer, counted once against the budget.
    query('10.48.2.8', false)
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(sent.length % targets.length, 0, 'every datagram to every broadcast address')
    assert.ok(sent.length / targets.length >= datagrams, 'a full answer (a unicast one keeps room for its cookie)')
    assert.ok(!replies.includes('10.48.2.8'), 'nothing to the source')
    // An announcer that binds none of the host's addresses (a library user's) cannot tell: by unicast then.
    bound = false
    query('10.48.2.9', false)
    await new Promise((resolve) => setImmediate(resolve))
    assert.ok(replies.includes('10.48.2.9'), 'answered by unicast then')
  })

  it('a flood from forged sources spends the budget of queries without a cookie: a cookie gets its query answered, a forged copy of it does not', async () => {
    const files = Array.from({ length: 30 }, (_, n) => ({
      id: id(n),
      name: `f${n}.bin`,
      size: 4096,
      have: Bitfield.full(1),
    }))
    const answerer = new QueryAnswerer(
      // The budgets' clock stands still: none refills while the flood runs, however slow the machine (24 notices
      // for 20 on a loaded CI run).
      { tcpPort: 47010, intervalMs: 5000, cookieBytesPerS: 20 * NOTICE_BYTES, budgetClock: () => 0 },
      linkTo(() => ({ peer: PEER, files })),
      silentLogger(),
    )
    const got = new Map<string, DiscoveryMessage[]>()
    const ask = async (address: string, query: Buffer): Promise<DiscoveryMessage[]> => {
      got.set(address, [])
      answerer.onMessage({
        bytes: query,
        from: { address, port: 9999, family: 4 },
        toHost: true,
        reply: async (payload) => {
          assert.ok(payload.length <= ANSWER_FACTOR * query.length)
          got.get(address)?.push(decodeDatagram(payload))
          return true
        },
      })
      await new Promise((resolve) => setImmediate(resolve))
      return got.get(address) ?? []
    }
    const cookieOf = (messages: DiscoveryMessage[]): CookieNotice | undefined => {
      const last = messages.at(-1)
      return last?.type === 'cookie' ? last : undefined
    }
    // An honest querier, before any flood: answered, and given its cookie with the answer.
    const first = await ask('10.0.0.5', encodeQuery({}, 1200, { nonce: 'ab'.repeat(8) }))
    assert.ok(first.some((m) => m.type === 'announce'))
    const cookie = cookieOf(first)
    assert.equal(cookie?.answered, true)
    assert.equal(cookie?.nonce, 'ab'.repeat(8), 'the nonce said back')
    // And in every announcement of the answer: the querier tells it from one forged with our address.
    for (const m of first) if (m.type === 'announce') assert.equal(m.nonce, 'ab'.repeat(8))
    // Forged sources, each asking once: the total for queries without a cookie runs out; those refused get a
    // notice (withheld: ask again), until the notices' own total runs out.
    let withheld = 0
    for (let i = 0; i < 100; i++) {
      const answer = await ask(`10.1.${i >> 8}.${i & 255}`, encodeQuery())
      if (answer.length === 1 && cookieOf(answer)?.answered === false) withheld++
    }
    assert.ok(answerer.stats.refused > 50, `${answerer.stats.refused} refused`)
    assert.equal(withheld, 20, 'notices within their own total')
    assert.deepEqual(
      (await ask('10.0.0.5', encodeQuery())).map((m) => m.type),
      [],
      'the honest querier without its cookie: refused like the flood (the notices spent too)',
    )
    const proven = await ask('10.0.0.5', encodeQuery({}, 1200, { cookie: cookie?.cookie }))
    assert.ok(
      proven.some((m) => m.type === 'announce'),
      'with its cookie: answered',
    )
    assert.equal(cookieOf(proven), undefined, 'no new cookie needed')
    for (const m of proven) if (m.type === 'announce') assert.equal(m.nonce, undefined, 'no nonce asked, none said')
    assert.equal(answerer.stats.proven, 1)
    assert.deepEqual(
      await ask('10.0.0.6', encodeQuery({}, 1200, { cookie: cookie?.cookie })),
      [],
      'not from another address',
    )
    // The old 22-byte form has no room for a notice beside an answer: none is offered.
    const old = await ask('10.0.0.7', Buffer.from('{"v":1,"type":"query"}'))
    assert.equal(cookieOf(old), undefined)
  })

  it('a cookie in use never lapses: one of the last epoch is answered with a new one', async () => {
    let now = 1_000_000_000_000
    const files = [{ id: id(1), name: 'a.bin', size: 4096, have: Bitfield.full(1) }]
    const answerer = new QueryAnswerer(
      { tcpPort: 47010, intervalMs: 5000, now: () => now },
      linkTo(() => ({ peer: PEER, files })),
      silentLogger(),
    )
    const ask = async (cookie?: string): Promise<DiscoveryMessage[]> => {
      const got: DiscoveryMessage[] = []
      answerer.onMessage({
        bytes: encodeQuery({}, 1200, { cookie, nonce: 'ab'.repeat(8) }),
        from: { address: '10.0.0.5', port: 9999, family: 4 },
        toHost: true,
        reply: async (payload) => {
          got.push(decodeDatagram(payload))
          return true
        },
      })
      await new Promise((resolve) => setImmediate(resolve))
      return got
    }
    const notice = (messages: DiscoveryMessage[]): CookieNotice | undefined =>
      messages.find((m): m is CookieNotice => m.type === 'cookie')
    const first = notice(await ask())!.cookie
    assert.equal(notice(await ask(first)), undefined, 'this epoch: no new cookie needed')
    now += COOKIE_EPOCH_MS
    const renewed = notice(await ask(first))
    assert.equal(renewed?.answered, true, 'the last epoch: answered, and a new cookie with it')
    assert.notEqual(renewed?.cookie, first)
    assert.equal(notice(await ask(renewed?.cookie)), undefined, 'the new one proves this epoch')
    assert.equal(answerer.stats.proven, 3)
    now += COOKIE_EPOCH_MS
    assert.equal(notice(await ask(first))?.answered, true, 'the first, two epochs old: a query without a cookie')
    assert.equal(answerer.stats.proven, 3)
  })

  it('an answer that holds a few slices of a 2^24-chunk bitfield encodes those, never the whole bitfield', () => {
    const have = new Bitfield(1 << 24)
    for (let i = 0; i < 1 << 24; i += 3) have.set(i)
    have.toBase64 = () => assert.fail('the whole bitfield encoded for an answer')
    const answer = answerTo({ peer: PEER, files: [{ id: id(1), name: 'huge.iso', size: 2 ** 40, have }] }, {}, 1200, {
      tcpPort: 1,
      intervalMs: 5000,
      maxBytes: 1200,
    })
    const messages = answer.datagrams.map((d) => decodeDatagram(d))
    assert.ok(messages.length >= 2 && messages.length <= 4, `${messages.length} datagrams`)
    const slices = messages.flatMap((m) => (m.type === 'announce' ? m.files.map((f) => f.from) : []))
    assert.equal(slices[0], 0, 'from the first chunk')
    assert.deepEqual(
      slices,
      [...slices].sort((a, b) => a - b),
    )
    assert.equal(messages.at(-1)?.type, 'more', 'the rest left to the periodic announcements')
  })
})
