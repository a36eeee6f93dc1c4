import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { DhtAddress } from 'hyperdht'
import {
  chargeHandshake,
  decodeHandshakeRoute,
  HANDSHAKES_PER_SECOND,
  HandshakeBounds,
  type HandshakeRoute,
  RELAY_RESERVE_AFTER_MS,
  RELAY_RESERVE_PASSES,
  RELAY_RESERVE_PER_SECOND,
  RELAY_VOUCHES_MS,
  RELAYED_HANDSHAKES_PER_SECOND,
  RecentRelays,
} from '../../src/core/dht/handshake-source.js'

/** hyperdht's own encoder, as a dialler or a relay uses it (lib/router.js). */
const { handshake } = createRequire(import.meta.url)('hyperdht/lib/messages.js') as {
  handshake: {
    preencode(state: { start: number; end: number }, m: unknown): void
    encode(state: { start: number; end: number; buffer: Buffer }, m: unknown): void
  }
}
function encode(m: HandshakeRoute & { noise: Buffer }): Buffer {
  const state = { start: 0, end: 0, buffer: Buffer.alloc(0) }
  handshake.preencode(state, m)
  state.buffer = Buffer.alloc(state.end)
  handshake.encode(state, m)
  return state.buffer
}

const FROM_CLIENT = 0
const FROM_RELAY = 2
const FROM_SECOND_RELAY = 3 // as a second relay passes a message on: no p2pshare dialler's takes that route

const address = fc
  .record({
    host: fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.')),
    port: fc.integer({ min: 1, max: 65535 }),
  })
  .map((a) => ({ ...a }))
const route = fc
  .record({
    mode: fc.integer({ min: 0, max: 4 }),
    peerAddress: fc.option(address, { nil: null }),
    relayAddress: fc.option(address, { nil: null }),
  })
  .map((r) => ({ ...r }))
const same = (a: DhtAddress) => (b: DhtAddress) => a.host === b.host && a.port === b.port

describe('whom a DHT handshake is charged to, and where the engine is told its dialler is', () => {
  it("only a dialler's own message and a relay's are handed on; from a node not our relay, a dial straight from its sender, whatever it claims", () => {
    fc.assert(
      fc.property(fc.option(route, { nil: null }), address, (claimed, from) => {
        const charge = chargeHandshake(claimed, from, () => false)
        if (claimed?.mode === FROM_CLIENT || claimed?.mode === FROM_RELAY)
          assert.deepEqual(charge, { source: from.host, peerAddress: null })
        else assert.equal(charge, null, 'dropped: no p2pshare dialler sends it')
      }),
    )
  })

  it('a handshake a relay of ours passed on is charged to the relay and what it saw, bounded by the relay in all, and the engine told that', () => {
    fc.assert(
      fc.property(route, address, address, (claimed, relay, other) => {
        const charge = chargeHandshake(claimed, relay, same(relay))
        if (claimed.mode === FROM_RELAY && claimed.peerAddress) {
          const key = `${relay.host}:${relay.port}`
          assert.deepEqual(charge, {
            source: `${key}>${claimed.peerAddress.host}`,
            relay: key,
            peerAddress: claimed.peerAddress,
          })
          // Two relays' allowances for the same dialler are apart: a hostile relay spends only its own.
          if (!same(relay)(other)) assert.notEqual(chargeHandshake(claimed, other, same(other))?.source, charge?.source)
        } else if (claimed.mode === FROM_CLIENT || claimed.mode === FROM_RELAY)
          assert.deepEqual(charge, { source: relay.host, peerAddress: null })
        else assert.equal(charge, null)
      }),
    )
  })

  it("a stranger claiming an honest dialler's address is neither charged to it nor answered there", () => {
    const relay = { host: '10.0.0.2', port: 49737 }
    const honest = { host: '10.0.0.7', port: 40000 }
    const stranger = { host: '10.0.0.66', port: 5000 }
    const isOurRelay = same(relay)
    const viaRelay = chargeHandshake({ mode: FROM_RELAY, peerAddress: honest, relayAddress: null }, relay, isOurRelay)
    assert.deepEqual(viaRelay?.peerAddress, honest)
    // Straight to us, as a dialler (the engine would take the address for the dialler's) or as a relay.
    for (const mode of [FROM_CLIENT, FROM_RELAY])
      assert.deepEqual(chargeHandshake({ mode, peerAddress: honest, relayAddress: null }, stranger, isOurRelay), {
        source: stranger.host,
        peerAddress: null,
      })
    // Bounced through an ordinary node to our relay, or sent as if it had been: dropped, whoever it names.
    for (const from of [relay, stranger])
      assert.equal(
        chargeHandshake({ mode: FROM_SECOND_RELAY, peerAddress: honest, relayAddress: stranger }, from, isOurRelay),
        null,
      )
  })
})

describe('the bounds on handshakes', () => {
  it("a source has its allowance; a relay of ours has one for all it passes on; a source past its own spends none of the relay's", () => {
    // A clock that stands still: on the real one, a loaded machine's milliseconds refilled a bucket (CI: 181 for 180).
    const bounds = new HandshakeBounds(() => 0)
    const took = (charge: { source: string; relay?: string }, n: number) =>
      Array.from({ length: n }, () => bounds.take(charge)).filter(Boolean).length
    assert.equal(took({ source: 'a' }, 3 * HANDSHAKES_PER_SECOND), 2 * HANDSHAKES_PER_SECOND, 'the burst, at once')
    assert.equal(took({ source: 'b' }, 1), 1, 'another source has its own')
    // One dialler through the relay, far past its own allowance: the relay's other diallers lose nothing.
    took({ source: 'r>x', relay: 'r' }, 10 * RELAYED_HANDSHAKES_PER_SECOND)
    let others = 0
    for (let i = 0; others < 2 * RELAYED_HANDSHAKES_PER_SECOND + 10; i++) {
      if (!bounds.take({ source: `r>${i}`, relay: 'r' })) break
      others++
    }
    assert.equal(
      others,
      2 * RELAYED_HANDSHAKES_PER_SECOND - 2 * HANDSHAKES_PER_SECOND + RELAY_RESERVE_PER_SECOND,
      'the relay bounded in all: its bound, and its reserve for sources it passed none of lately (each of these new)',
    )
  })

  it("past a relay's bound, a source it passed fewer than two for lately has a reserve; a stranger's sources spending the bound have none", () => {
    let now = 0
    const bounds = new HandshakeBounds(() => now)
    /** A stranger with 40 addresses dialling through an honest relay as fast as it may: what got through. */
    const flood = () => {
      let through = 0
      for (let round = 0; round < 10; round++)
        for (let i = 0; i < 40; i++) if (bounds.take({ source: `r>stranger${i}`, relay: 'r' })) through++
      return through
    }
    assert.equal(flood(), 2 * RELAYED_HANDSHAKES_PER_SECOND, "the relay's bound, all the stranger's")
    assert.equal(bounds.take({ source: 'r>honest', relay: 'r' }), true, 'a dialler new to the relay: the reserve')
    assert.equal(bounds.take({ source: 'r>honest', relay: 'r' }), true, 'passed once: a redial, the reserve again')
    assert.equal(bounds.take({ source: 'r>honest', relay: 'r' }), false, `passed ${RELAY_RESERVE_PASSES} times lately`)
    assert.equal(bounds.take({ source: 'q>honest', relay: 'q' }), true, "another relay's is its own")
    let newcomers = 0
    for (let i = 0; i < 3 * RELAY_RESERVE_PER_SECOND; i++)
      if (bounds.take({ source: `r>new${i}`, relay: 'r' })) newcomers++
    assert.equal(newcomers, RELAY_RESERVE_PER_SECOND - 2, 'the reserve is bounded (one second of it at once)')
    // A second on: the stranger's 40 again take the bound's refill, and are refused the reserve.
    now += 1000
    assert.equal(flood(), RELAYED_HANDSHAKES_PER_SECOND, 'the refilled bound; none of the reserve')
    assert.equal(bounds.take({ source: 'r>late', relay: 'r' }), true, 'the reserve refilled, for a newcomer')
    // Past RELAY_RESERVE_AFTER_MS a source passed before is new to the relay again.
    now += RELAY_RESERVE_AFTER_MS
    flood()
    assert.equal(bounds.take({ source: 'r>honest', relay: 'r' }), true, 'new again')
  })
})

describe('the relays that vouch for their diallers', () => {
  it('are those of the announcer now, and those it had within RELAY_VOUCHES_MS', () => {
    let now = 0
    const a = { relayAddress: { host: '10.0.0.2', port: 1 } }
    const b = { relayAddress: { host: '10.0.0.3', port: 1 } }
    let list: Array<typeof a> | undefined
    const relays = new RecentRelays(
      () => list,
      () => now,
    )
    assert.equal(relays.has(a.relayAddress), false, 'none before the first announce')
    list = [a]
    assert.equal(relays.has(a.relayAddress), true)
    assert.equal(relays.has({ host: '10.0.0.2', port: 2 }), false, 'the port counts')
    now += 60_000
    list = [b] // the announcer moved on: a still relays for us with its copy of our record
    assert.equal(relays.has(a.relayAddress), true)
    assert.equal(relays.has(b.relayAddress), true)
    now += RELAY_VOUCHES_MS
    assert.equal(relays.has(a.relayAddress), false, 'a long gone')
    assert.equal(relays.has(b.relayAddress), true, 'b read at the time of its list: still within')
    now += 1
    assert.equal(relays.has(b.relayAddress), false)
  })

  it('are at most a few hundred, whatever the announcer lists', () => {
    let list: Array<{ relayAddress: { host: string; port: number } }> = []
    const relays = new RecentRelays(() => list)
    for (let round = 0; round < 100; round++) {
      list = Array.from({ length: 20 }, (_, i) => ({ relayAddress: { host: `10.1.${round}.${i}`, port: 1 } }))
      assert.equal(relays.has(list[0]!.relayAddress), true)
    }
    assert.equal(relays.has({ host: '10.1.0.0', port: 1 }), false, 'the oldest forgotten past the bound')
  })
})

describe("a PEER_HANDSHAKE message's route", () => {
  it('decodes what hyperdht encodes', () => {
    fc.assert(
      fc.property(route, fc.uint8Array({ maxLength: 200 }), (claimed, noise) => {
        const decoded = decodeHandshakeRoute(encode({ ...claimed, noise: Buffer.from(noise) }))
        assert.deepEqual(decoded, claimed)
      }),
    )
  })

  it('any bytes at all give a route or null, never a throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const decoded = decodeHandshakeRoute(bytes)
        if (decoded) assert.equal(typeof decoded.mode, 'number')
      }),
    )
    assert.equal(decodeHandshakeRoute(null), null)
    assert.equal(decodeHandshakeRoute(Buffer.alloc(0)), null)
    assert.equal(
      decodeHandshakeRoute(encode({ mode: FROM_CLIENT, peerAddress: null, relayAddress: null, noise: Buffer.alloc(3) }))
        ?.mode,
      0,
    )
  })
})
