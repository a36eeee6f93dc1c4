// Sealed datagrams of a private swarm: sealed and opened within the window, dropped with their reason (damage,
// another key, a stale stamp, a replay, an answer to another query), the buffers they are sealed in.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { DatagramGuard } from '../../src/core/trust/datagram-guard.js'
import { SealBuffers } from '../../src/core/trust/seal-buffers.js'
import {
  looksSealed,
  MAX_SEALED_PAYLOAD,
  nonceOf,
  openDatagram,
  ReplayFilter,
  SEAL_OVERHEAD,
  sealDatagram,
} from '../../src/core/trust/sealed-datagram.js'

describe('sealed datagrams', () => {
  const key = randomBytes(32)
  const now = 1_800_000_000_000
  const payload = fc.uint8Array({ maxLength: MAX_SEALED_PAYLOAD }).map((a) => Buffer.from(a))

  it('open(seal(p)) = p within the window; the datagram stays within 1,200 bytes', () => {
    fc.assert(
      fc.property(payload, fc.integer({ min: -15_000, max: 15_000 }), (p, skew) => {
        const sealed = sealDatagram(key, p, now + skew)
        assert.ok(sealed.byteLength <= 1200 && sealed.byteLength === p.byteLength + SEAL_OVERHEAD)
        assert.ok(looksSealed(sealed))
        const opened = openDatagram(key, sealed, now, 15_000)
        assert.ok('payload' in opened)
        assert.deepEqual(opened.payload, p)
      }),
      { numRuns: 300 },
    )
  })

  it('any flipped bit, another key, or a stamp outside the window is dropped with its reason', () => {
    fc.assert(
      fc.property(payload, fc.nat(), fc.nat(7), (p, at, bit) => {
        const sealed = sealDatagram(key, p, now)
        sealed[at % sealed.byteLength]! ^= 1 << bit
        const opened = openDatagram(key, sealed, now, 15_000)
        assert.ok('failure' in opened && (opened.failure === 'auth' || opened.failure === 'magic'))
      }),
      { numRuns: 500 },
    )
    const sealed = sealDatagram(key, Buffer.from('{}'), now)
    assert.deepEqual(openDatagram(randomBytes(32), sealed, now, 15_000), { failure: 'auth' })
    assert.deepEqual(openDatagram(key, sealed, now + 15_001, 15_000), { failure: 'stale' })
    assert.deepEqual(openDatagram(key, sealed, now - 15_001, 15_000), { failure: 'future' })
    assert.deepEqual(openDatagram(key, Buffer.from('{"v":1,"type":"query"}'), now, 15_000), { failure: 'size' })
  })

  it('an answer sealed to a query opens only as the answer to that query: not elsewhere, not to another query', () => {
    const clock = () => now
    const member = new DatagramGuard(key, 15_000, clock)
    const query = member.seal(Buffer.from('{"v":1,"type":"query"}'))
    const opened = new DatagramGuard(key, 15_000, clock).open(query)
    assert.ok('nonce' in opened)
    const answer = member.seal(Buffer.from('{"answer":1}'), opened.nonce)
    const otherQuery = member.seal(Buffer.from('{"v":1,"type":"query"}'))
    const fresh = () => new DatagramGuard(key, 15_000, clock)
    assert.deepEqual(fresh().open(answer, [opened.nonce]), {
      payload: Buffer.from('{"answer":1}'),
      nonce: nonceOf(answer),
    })
    assert.deepEqual(fresh().open(answer, [nonceOf(otherQuery)]), { drop: 'auth' }, 'another query')
    assert.deepEqual(fresh().open(answer), { drop: 'auth' }, 'on the shared port')
    // A member's own announcement (sealed to no query) replayed to a query port by a stranger.
    const announcement = member.seal(Buffer.from('{"announce":1}'))
    assert.deepEqual(fresh().open(announcement, [opened.nonce]), { drop: 'unbound' })
    assert.deepEqual(fresh().open(announcement, []), { drop: 'unbound' })
    assert.deepEqual(new DatagramGuard(randomBytes(32), 15_000, clock).open(answer, [opened.nonce]), { drop: 'auth' })
  })

  it('never throws, whatever the bytes (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1300 }), (bytes) => {
        const opened = openDatagram(key, bytes, now, 15_000)
        assert.ok('failure' in opened)
      }),
      { numRuns: 2000 },
    )
    assert.throws(() => sealDatagram(key, Buffer.alloc(MAX_SEALED_PAYLOAD + 1), now), RangeError)
  })

  it('a replay within the window is caught once, bounded in entries', () => {
    const filter = new ReplayFilter(15_000, 100)
    assert.ok(filter.admit('a', now, now))
    assert.ok(!filter.admit('a', now, now + 1000))
    assert.ok(
      filter.admit('a', now, now + 31_000),
      'forgotten after twice the window (its stamp is stale by then anyway)',
    )
    for (let i = 0; i < 1000; i++) filter.admit(`n${i}`, now, now + 31_000)
    assert.ok(filter.size <= 100)
  })
})

describe('seal buffers', () => {
  it('hands a buffer out once at a time and bounds what waits idle', () => {
    const pool = new SealBuffers(64 * 1024)
    const a = pool.take(40_000)
    assert.equal(a.byteLength, 40_000)
    pool.give(a)
    pool.give(a) // twice: kept once
    const b = pool.take(50_000)
    const c = pool.take(50_000)
    assert.equal(b.buffer, a.buffer)
    assert.notEqual(c.buffer, a.buffer)
    pool.give(b)
    pool.give(c)
    assert.ok(pool.idleByteCount <= 64 * 1024)
    assert.equal(pool.take(100).byteLength, 100)
  })
})

describe('datagram guard', () => {
  it('seals, opens once, drops plain, replayed, stale and foreign datagrams with their reason', async () => {
    let now = 1_800_000_000_000
    const key = randomBytes(32)
    const guard = new DatagramGuard(key, 15_000, () => now)
    const sealed = guard.seal(Buffer.from('{"v":1,"type":"query"}'))
    assert.deepEqual(guard.open(sealed), {
      payload: Buffer.from('{"v":1,"type":"query"}'),
      nonce: nonceOf(sealed),
    })
    assert.deepEqual(guard.open(sealed), { drop: 'replay' })
    assert.deepEqual(guard.open(Buffer.from('{"v":1,"type":"query"}')), { drop: 'plain' })
    assert.deepEqual(new DatagramGuard(randomBytes(32), 15_000, () => now).open(guard.seal(Buffer.from('x'))), {
      drop: 'auth',
    })
    const old = guard.seal(Buffer.from('x'))
    now += 16_000
    assert.deepEqual(guard.open(old), { drop: 'stale' })
    assert.equal(guard.maxPayload, 1200 - SEAL_OVERHEAD)
  })

  it("a process started after a datagram was sent does not take it ('early': its replay record could not have it), but takes an answer to its own query; a step of its clock moves 'before' along", () => {
    const started = 1_800_000_000_000
    let wall = started
    let mono = 0
    let memberWall = started - 1_000
    const key = randomBytes(32)
    const member = new DatagramGuard(key, 15_000, () => memberWall)
    const late = new DatagramGuard(
      key,
      15_000,
      () => wall,
      () => mono,
    )
    const before = member.seal(Buffer.from('{"announce":1}'))
    assert.deepEqual(late.open(before), { drop: 'early' }, 'sent 1 s before it began, inside --stale-after')
    const query = late.seal(Buffer.from('{"v":1,"type":"query"}'))
    const heard = member.open(query)
    assert.ok('nonce' in heard)
    // The member's clock is 1 s behind ours: its answer to our query is taken at once, its bursts once we ran 1 s.
    const answer = member.seal(Buffer.from('{"answer":1}'), heard.nonce)
    assert.ok('payload' in late.open(answer, [nonceOf(query)]))
    wall += 1_500
    mono += 1_500
    memberWall += 1_500
    assert.ok('payload' in late.open(member.seal(Buffer.from('{"announce":2}'))), 'sent once it began')
    // Our clock is stepped back an hour (NTP after boot): what members send now was not sent before we began.
    wall -= 3_600_000
    memberWall = wall
    mono += 10
    assert.ok('payload' in late.open(member.seal(Buffer.from('{"announce":3}'))), 'not deaf after a clock step')
  })
})
