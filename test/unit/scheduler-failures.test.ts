// Peers that fail, lie or are busy: bans after bad chunks, backoff, denied chunks and their lapse, "not now"
// pauses, peers written off after their patience; and which path of a peer counts as proven or usable.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DENIAL_LAPSES, DENIAL_MS } from '../../src/core/download/peer-record.js'
import { Scheduler } from '../../src/core/download/scheduler.js'
import { all, bits } from '../helpers/bitfields.js'

describe('scheduler', () => {
  it("counts the path that delivered the manifest as proven before it is a peer here (so it is the peer's path chosen: third attacker pass)", () => {
    const s = new Scheduler(4, { random: () => 0 })
    s.vouch('dht:SEEDER:0')
    assert.equal(s.isProven('dht:SEEDER:0'), true, 'vouched, not yet set')
    assert.equal(s.isProven('10.0.0.66:47010'), false, 'a stranger path for the same peer ID')
    s.setPeer('dht:SEEDER:0', all(4))
    assert.equal(s.isProven('dht:SEEDER:0'), true, 'and once it is a peer')
  })

  it('bans a peer after maxStrikes bad chunks and gives its chunks to others', () => {
    const s = new Scheduler(8, { maxStrikes: 3, probeWindow: 8 })
    s.setPeer('liar', all(8))
    s.setPeer('honest', all(8))
    for (let strike = 1; strike <= 3; strike++) {
      const index = s.next('liar')!
      assert.equal(s.failed('liar', index, 'checksum'), strike === 3)
    }
    assert.ok(s.isBanned('liar'))
    assert.equal(s.next('liar'), undefined)
    s.setPeer('liar', all(8)) // announcing again does not lift a ban
    assert.equal(s.next('liar'), undefined)
    const got = new Set<number>()
    for (let index = s.next('honest'); index !== undefined; index = s.next('honest')) got.add(index)
    assert.equal(got.size, 8)
    assert.match(s.report().find((p) => p.key === 'liar')!.banned!, /3 chunks/)
  })

  it('backs off a failing peer exponentially and forgets chunks it says it lacks', () => {
    let clock = 1000
    const s = new Scheduler(3, { backoffBaseMs: 100, now: () => clock })
    s.setPeer('a', all(3))
    const first = s.next('a')!
    s.failed('a', first, 'error')
    assert.equal(s.next('a'), undefined)
    assert.equal(s.readyIn('a'), 100)
    assert.equal(s.pathUsable('a'), false, 'while it backs off another path to it may be tried')
    clock += 100
    assert.equal(s.pathUsable('a'), true)
    const again = s.next('a')!
    s.failed('a', again, 'error')
    assert.equal(s.readyIn('a'), 200)
    clock += 200
    const index = s.next('a')!
    s.failed('a', index, 'missing')
    s.setPeer('a', all(3)) // it announces the chunk again: still not asked for it
    const rest = [s.next('a'), s.next('a'), s.next('a')]
    assert.ok(!rest.includes(index))
    assert.deepEqual(
      s.unavailable(() => 0),
      { chunks: 1, bytes: 0, first: [index] },
    )
  })

  it('a chunk a peer said "not found" for is asked of it again once its denials lapse (DENIAL_MS): a claim may have been a stranger\'s, and the peer may hold it by then', () => {
    let clock = 1000
    const s = new Scheduler(2, { now: () => clock, random: () => 0 })
    s.setPeer('partial', all(2)) // a stranger's "every chunk", under its address
    const index = s.next('partial')!
    s.failed('partial', index, 'missing')
    s.expireDenials()
    const other = s.next('partial')! // its walk passes the denied chunk
    s.arrived('partial', other)
    s.succeeded('partial', other, 1)
    assert.equal(s.next('partial'), undefined, 'nothing else it may be asked')
    assert.deepEqual(s.unavailable(() => 1).first, [index], 'denied: nobody has it')
    clock += DENIAL_MS
    s.expireDenials()
    assert.equal(s.unavailable(() => 1).chunks, 0, 'the denial lapsed')
    assert.equal(s.next('partial'), index, 'asked again')
    // Each later round stands twice as long, and the one after DENIAL_LAPSES rounds for good: a chunk nobody has
    // then ends the download (E_NO_PEER) instead of being asked again for ever.
    for (let round = 1; round <= DENIAL_LAPSES; round++) {
      s.failed('partial', index, 'missing')
      clock += DENIAL_MS * 2 ** round - 1
      s.expireDenials()
      assert.equal(s.unavailable(() => 1).chunks, 1, `round ${round}: still denied just before it lapses`)
      clock += 1
      s.expireDenials()
      const lapsed = round < DENIAL_LAPSES
      assert.equal(s.unavailable(() => 1).chunks, lapsed ? 0 : 1, `round ${round}`)
      if (lapsed) assert.equal(s.next('partial'), index)
    }
  })

  it('a peer that never delivered keeps its denials: what it claims and lacks is not asked of it again', () => {
    let clock = 1000
    const s = new Scheduler(2, { now: () => clock, random: () => 0 })
    s.setPeer('liar', all(2))
    for (let index = s.next('liar'); index !== undefined; index = s.next('liar')) s.failed('liar', index, 'missing')
    clock += 100 * DENIAL_MS
    s.expireDenials()
    assert.equal(s.unavailable(() => 1).chunks, 2)
    assert.equal(s.next('liar'), undefined)
  })

  it('a peer that says "not now" is left alone for its retryMs, without a failure, and its chunk goes to another peer at once', () => {
    let clock = 1000
    const s = new Scheduler(4, { backoffBaseMs: 100, now: () => clock, random: () => 0 })
    s.setPeer('seeder', all(4))
    s.setPeer('peer', bits(4, [0, 1, 2, 3]))
    const asked = s.next('seeder')!
    s.notNow('seeder', asked, 700)
    assert.equal(s.readyIn('seeder'), 700)
    assert.equal(s.next('seeder'), undefined)
    assert.equal(s.next('peer'), asked, 'the chunk is free for the next peer')
    for (let i = 0; i < 5; i++) {
      clock += 700
      s.notNow('seeder', s.next('seeder')!, 700)
    }
    assert.equal(s.readyIn('seeder'), 700, 'no doubling: "not now" is not a failure')
    assert.equal(s.pathUsable('seeder'), true, 'a busy peer keeps its path (peer-paths.ts)')
    const report = s.report().find((p) => p.key === 'seeder')!
    assert.deepEqual([report.failures, report.strikes, report.banned], [0, 0, undefined])
    assert.deepEqual(
      s.unavailable(() => 1),
      { chunks: 0, bytes: 0, first: [] },
      'nothing counts as denied',
    )
  })

  it('a failure during a "not now" pause is a failure (backoff, and the path may change); the pause goes with the peer to another path', () => {
    let clock = 1000
    const s = new Scheduler(4, { backoffBaseMs: 100, now: () => clock, random: () => 0 })
    s.setPeer('v4', all(4))
    s.notNow('v4', s.next('v4')!, 700)
    clock += 10
    s.peerFailed('v4')
    assert.equal(s.report().find((p) => p.key === 'v4')!.failures, 1)
    assert.equal(s.pathUsable('v4'), false, 'it failed there: another path to it may be tried')
    assert.equal(s.readyIn('v4'), 690, 'the later of the pause and the backoff')
    s.setPeer('v6', all(4))
    s.carryPause('v4', 'v6')
    assert.equal(s.readyIn('v6'), 690, 'the host is still busy through its other address')
    assert.equal(s.pathUsable('v6'), true)
  })

  it('"not now" pauses at least 100 ms whatever the peer asks; a peer that gives nothing for patienceMs (only "not now", or only failures) is written off, so chunks only it claims become unavailable; a delivery restarts its patience', () => {
    let clock = 1000
    const s = new Scheduler(3, { now: () => clock, random: () => 0, patienceMs: 5000, backoffMaxMs: 1000 })
    s.setPeer('stingy', all(3))
    s.notNow('stingy', s.next('stingy')!, 0)
    assert.equal(s.readyIn('stingy'), 100, 'retryMs 0 is no busy loop')
    clock = 1500 // it delivers one chunk: its patience starts again
    const given = s.next('stingy')!
    s.arrived('stingy', given)
    s.succeeded('stingy', given, 10)
    clock = 2000
    s.notNow('stingy', s.next('stingy')!, 2000)
    clock = 6499
    s.notNow('stingy', s.next('stingy')!, 2000)
    assert.equal(s.unavailable(() => 1).chunks, 0, 'within its patience: still counted on')
    assert.deepEqual(s.takeWrittenOff(), [], 'not written off yet')
    clock = 8500
    s.notNow('stingy', s.next('stingy')!, 2000)
    assert.equal(s.readyIn('stingy'), Infinity, 'written off: asked nothing more')
    assert.equal(s.pathUsable('stingy'), true, 'written off for "not now" alone: the host, not this path, is busy')
    assert.equal(s.unavailable(() => 1).chunks, 2, 'the two chunks only it claimed have no live peer now')
    const report = s.report().find((p) => p.key === 'stingy')!
    assert.deepEqual([report.failures, report.strikes, report.banned, report.writtenOff], [0, 0, undefined, true])
    assert.deepEqual(s.takeWrittenOff(), ['stingy'], 'handed once to the caller, which closes its connections')
    assert.deepEqual(s.takeWrittenOff(), [])

    // A peer whose every request fails (an announced port that refuses, a timeout) the same way; an honest
    // peer holding the same chunks keeps them available.
    const t = new Scheduler(2, { now: () => clock, random: () => 0, patienceMs: 5000, backoffMaxMs: 1000 })
    t.setPeer('dead', all(2))
    t.setPeer('honest', bits(2, [0]))
    for (let k = 0; k < 20 && t.readyIn('dead') < Infinity; k++) {
      clock += Math.max(t.readyIn('dead'), 1)
      const index = t.next('dead')
      if (index !== undefined) t.failed('dead', index, 'error')
    }
    assert.equal(t.readyIn('dead'), Infinity, 'written off after 5 s of failures')
    assert.deepEqual(
      t.unavailable(() => 1),
      { chunks: 1, bytes: 1, first: [1] },
      'chunk 0 still has the honest peer',
    )
  })

  it('a peer that announces 200,000 chunks and denies each one: every pick starts where the last freed chunk was, not at the start', () => {
    // Each denial used to send every cursor back to the start of the rarity order: the denials of a whole
    // file cost n²/2 steps (minutes at 200,000). The bound below is a hang bound, 100× what it takes.
    const count = 200_000
    const s = new Scheduler(count, { probeWindow: 2 })
    s.setPeer('liar', all(count))
    s.setPeer('seeder', bits(count, [count - 1]))
    const started = performance.now()
    let asked = 0
    for (let index = s.next('liar'); index !== undefined; index = s.next('liar')) {
      asked++
      s.failed('liar', index, 'missing')
      s.setPeer('liar', all(count)) // it keeps announcing them, ten times a second
      assert.ok(performance.now() - started < 30_000, `still asking after ${asked} denials`)
    }
    assert.equal(asked, count, 'every chunk asked of it once')
    const stalled = s.unavailable((i) => (i === count - 1 ? 10 : 4096))
    assert.deepEqual(stalled, { chunks: count - 1, bytes: (count - 1) * 4096, first: [0, 1, 2, 3, 4] })
  })
})
