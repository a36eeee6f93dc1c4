import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { Scheduler } from '../../src/core/download/scheduler.js'
import { StallWatch } from '../../src/core/download/stall-watch.js'
import { P2PError } from '../../src/core/errors.js'

const only = (length: number, index: number): Bitfield => {
  const b = new Bitfield(length)
  b.set(index)
  return b
}

/** What a watch with no --wait throws at its first check (1-byte chunks). */
function failureAt(s: Scheduler, now: number, live: string[]): unknown {
  const watch = new StallWatch(
    s,
    () => 1,
    0,
    () => now,
  )
  try {
    watch.check(live)
  } catch (err) {
    return err
  }
  return assert.fail('no failure')
}

/** A one-chunk download whose only peer, 'liar', was banned at its first bad chunk (the clock stays at 0). */
function withLiarBanned(): Scheduler {
  const s = new Scheduler(1, { now: () => 0, maxStrikes: 1 })
  s.setPeer('liar', only(1, 0))
  assert.equal(s.failed('liar', s.next('liar')!, 'checksum'), true)
  return s
}

describe('stall watch', () => {
  it('counts chunks no peer has while none is busy, waits --wait, then E_NO_PEER naming them', () => {
    let clock = 0
    const s = new Scheduler(3, { now: () => clock })
    s.setPeer('a', only(3, 0))
    const watch = new StallWatch(
      s,
      () => 100,
      1000,
      () => clock,
    )
    const index = s.next('a')!
    watch.check(['a'])
    assert.equal(watch.current, undefined, 'a peer is busy: no stall')
    s.succeeded('a', index, 100)
    watch.check(['a'])
    assert.deepEqual(watch.current, { chunks: 2, bytes: 200, first: [1, 2] })
    clock = 999
    watch.check(['a'])
    clock = 1000
    assert.throws(
      () => watch.check(['a']),
      (err: unknown) =>
        err instanceof P2PError && err.code === 'E_NO_PEER' && /2 chunks \(200 bytes, first: 1, 2\)/.test(err.message),
    )
  })

  it('recounts at most every 100 ms, but at once when a peer turns busy, and afresh before giving up', () => {
    let clock = 0
    const s = new Scheduler(2, { now: () => clock })
    const watch = new StallWatch(
      s,
      () => 1,
      500,
      () => clock,
    )
    watch.check([])
    assert.equal(watch.current?.chunks, 2)
    s.setPeer('b', only(2, 1)) // a peer with chunk 1 appears: not counted again within 100 ms
    clock = 50
    watch.check(['b'])
    assert.equal(watch.current?.chunks, 2)
    clock = 100
    watch.check(['b'])
    assert.equal(watch.current?.chunks, 1)
    s.next('b')
    watch.check(['b'])
    assert.equal(watch.current, undefined, 'busy: the stall ends at once')
  })

  it('a stall whose last count is stale does not end the download: the count before giving up is fresh', () => {
    let clock = 0
    const s = new Scheduler(1, { now: () => clock })
    const watch = new StallWatch(
      s,
      () => 1,
      50,
      () => clock,
    )
    watch.check([])
    clock = 50
    s.setPeer('c', only(1, 0)) // it arrives just as the wait runs out, before the next periodic count
    assert.doesNotThrow(() => watch.check(['c']))
    assert.equal(watch.current, undefined)
  })

  it('E_CHECKSUM when every live peer was banned for bad data', () => {
    const err = failureAt(withLiarBanned(), 0, ['liar'])
    assert.ok(err instanceof P2PError && err.code === 'E_CHECKSUM', String(err))
    assert.ok(err.message.includes('1 peer banned for bad data or broken responses'), err.message)
  })

  it('E_NO_PEER while a live peer is unbanned, though a banned one has left', () => {
    const s = withLiarBanned()
    s.removePeer('liar')
    s.setPeer('honest', new Bitfield(1))
    const err = failureAt(s, 0, ['honest'])
    assert.ok(err instanceof P2PError && err.code === 'E_NO_PEER', String(err))
    assert.ok(err.message.includes('1 peer banned for bad data or broken responses'), err.message)
  })

  it('E_NO_PEER names the peers written off (nothing delivered within their patience)', () => {
    let clock = 0
    const s = new Scheduler(1, { now: () => clock, patienceMs: 5000, backoffMaxMs: 1000 })
    s.setPeer('stingy', only(1, 0))
    for (let k = 0; k < 20 && s.readyIn('stingy') < Infinity; k++) {
      clock += Math.max(s.readyIn('stingy'), 1)
      const index = s.next('stingy')
      if (index !== undefined) s.notNow('stingy', index, 1000)
    }
    const err = failureAt(s, clock, ['stingy'])
    assert.ok(err instanceof P2PError && err.code === 'E_NO_PEER', String(err))
    assert.ok(err.message.includes('1 peer written off') && !err.message.includes('banned'), err.message)
  })

  it('E_NO_PEER says a peer that announced the chunk answered "not found" (a shared file edited since), in the singular for one', () => {
    const s = new Scheduler(1, { now: () => 0 })
    s.setPeer('edited', only(1, 0))
    s.failed('edited', s.next('edited')!, 'missing') // what a seeder whose file no longer matches answers
    const err = failureAt(s, 0, ['edited'])
    assert.ok(err instanceof P2PError && err.code === 'E_NO_PEER', String(err))
    assert.match(
      err.message,
      /^1 chunk \(1 byte, first: 0\) has no live peer \(1 peer that announced it answered "not found" \(its copy changed or removed since it was shared, or a false claim\)\); re-run/,
    )
  })
})
