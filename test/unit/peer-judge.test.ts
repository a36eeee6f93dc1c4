import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import { type Failure, type JudgedPeers, MIN_NOT_NOW_MS, PeerJudge } from '../../src/core/download/peer-judge.js'
import { PeerRecord } from '../../src/core/download/peer-record.js'

const PATIENCE_MS = 60_000
const LINE_PATIENCE_MS = 300_000
const MAX_STRIKES = 3
const limits = {
  maxStrikes: MAX_STRIKES,
  backoffBaseMs: 500,
  backoffMaxMs: 10_000,
  window: 8,
  probeWindow: 2,
  firstDeadlineMs: 3000,
  deadlineFloorMs: 1000,
  maxDeadlineMs: 30_000,
}

type Step =
  | { kind: 'request'; index: number }
  | { kind: 'failed'; failure: Failure; index: number }
  | { kind: 'notNow'; index: number; retryMs: number; place: number | undefined }
  | { kind: 'peerFailed' }
  | { kind: 'giveUp' }
  | { kind: 'delivered' }
  | { kind: 'wait'; ms: number }

const index = fc.integer({ min: 0, max: 3 })
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('request' as const), index }),
  fc.record({
    kind: fc.constant('failed' as const),
    failure: fc.constantFrom<Failure>('checksum', 'protocol', 'missing', 'error', 'cancelled'),
    index,
  }),
  fc.record({
    kind: fc.constant('notNow' as const),
    index,
    retryMs: fc.constantFrom(0, 50, 100, 5000),
    place: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
  }),
  fc.constant({ kind: 'peerFailed' as const }),
  fc.constant({ kind: 'giveUp' as const }),
  fc.constant({ kind: 'delivered' as const }),
  // Multiples of the patience's divisors, so that a step lands on it exactly.
  fc.record({ kind: fc.constant('wait' as const), ms: fc.constantFrom(0, 99, 500, 10_000, 30_000, 60_000) }),
)

/** One peer, the judge, and what the judge asked of the scheduler's peers in the last step. */
function setup() {
  let clock = 1000
  const peer = new PeerRecord('p', Bitfield.full(4), limits, false, clock)
  const asked = { unassigned: [] as number[], returned: 0, invalidated: 0 }
  const peers: JudgedPeers = {
    find: (key) => (key === 'p' ? peer : undefined),
    live: new Map([['p', peer]]),
    unassign: (_key, i) => {
      peer.pace.forget(i)
      asked.unassigned.push(i)
    },
    returnChunks: () => {
      for (const i of [...peer.pace.inFlight.keys()]) if (peer.pace.isAwaited(i)) peer.pace.forget(i)
      asked.returned++
    },
    invalidate: () => asked.invalidated++,
  }
  const judge = new PeerJudge(peers, { now: () => clock, patienceMs: PATIENCE_MS, linePatienceMs: LINE_PATIENCE_MS })
  return { peer, judge, asked, now: () => clock, wait: (ms: number) => (clock += ms) }
}

describe('what an outcome costs a peer (peer-judge.ts)', () => {
  it('strikes only for bad bytes or protocol, bans at maxStrikes, backs off only for failures, pauses for "not now", writes off past its patience, and hands chunks back', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const { peer, judge, asked, now, wait } = setup()
        // The policy, said plainly.
        let strikes = 0
        let failures = 0
        let pausedUntil = 0
        let hopeSince = now()
        // The smallest place in its line said since hopeSince, and when a place below it last came.
        let lineBest = Infinity
        let lineMovedAt = now()
        let writtenOff = false
        const denied = new Set<number>()
        for (const s of steps) {
          asked.unassigned = []
          asked.returned = 0
          asked.invalidated = 0
          const backoffBefore = peer.backoffUntil
          const wasBanned = peer.banned !== undefined
          const wasWrittenOff: boolean = writtenOff
          let backsOff = false
          let mayWriteOff = false
          let bans = false
          const context = JSON.stringify({ s, steps })
          if (s.kind === 'request') peer.pace.request(s.index, now())
          else if (s.kind === 'wait') wait(s.ms)
          else if (s.kind === 'delivered') {
            peer.delivered(10, now())
            failures = 0
            hopeSince = lineMovedAt = now()
            lineBest = Infinity
          } else if (s.kind === 'failed') {
            const strike = s.failure === 'checksum' || s.failure === 'protocol'
            if (strike) strikes++
            bans = strike && strikes === MAX_STRIKES
            assert.equal(judge.failed('p', s.index, s.failure), bans, context)
            assert.deepEqual(asked.unassigned, [s.index], `the chunk goes to others: ${context}`)
            if (s.failure === 'missing') denied.add(s.index)
            backsOff = s.failure === 'error'
            mayWriteOff = backsOff
          } else if (s.kind === 'notNow') {
            judge.notNow('p', s.index, s.retryMs, s.place)
            assert.deepEqual(asked.unassigned, [s.index], `the chunk goes to others: ${context}`)
            pausedUntil = Math.max(pausedUntil, now() + Math.max(MIN_NOT_NOW_MS, s.retryMs))
            if (s.place !== undefined && s.place < lineBest) {
              if (lineBest !== Infinity) lineMovedAt = now()
              lineBest = s.place
            }
            mayWriteOff = true
          } else if (s.kind === 'peerFailed') {
            judge.peerFailed('p')
            assert.ok(asked.returned > 0, `its chunks go back: ${context}`)
            backsOff = mayWriteOff = true
          } else {
            const due = peer.pace.pastGiveUp(now())
            assert.deepEqual(judge.giveUpOverdue(), due ? ['p'] : [], context)
            if (due) assert.ok(asked.returned > 0, `its chunks go back: ${context}`)
            backsOff = mayWriteOff = due
          }
          if (backsOff && backoffBefore <= now()) failures++
          const lineMoves = now() - lineMovedAt < PATIENCE_MS && now() - hopeSince < LINE_PATIENCE_MS
          if (mayWriteOff && now() - hopeSince >= PATIENCE_MS && !lineMoves) writtenOff = true

          assert.equal(peer.strikes, strikes, `only bad bytes or protocol strike: ${context}`)
          assert.equal(peer.banned !== undefined, strikes >= MAX_STRIKES, `banned at maxStrikes: ${context}`)
          assert.equal(peer.failures, failures, `only failures back off: ${context}`)
          if (backsOff) assert.ok(peer.backoffUntil > now(), `backing off: ${context}`)
          else assert.equal(peer.backoffUntil, backoffBefore, `no backoff step: ${context}`)
          assert.equal(peer.pausedUntil, pausedUntil, `only "not now" pauses: ${context}`)
          assert.equal(peer.writtenOff, writtenOff, `written off past its patience: ${context}`)
          assert.deepEqual(judge.takeWrittenOff(), writtenOff && !wasWrittenOff ? ['p'] : [], `told once: ${context}`)
          if ((peer.banned !== undefined && !wasBanned) || (writtenOff && !wasWrittenOff)) {
            assert.ok(asked.returned > 0 && asked.invalidated > 0, `its chunks go back: ${context}`)
          }
          for (const i of denied) assert.ok(peer.denies(i), `"not found" is not asked again: ${context}`)
          const usable: boolean =
            peer.banned === undefined && !(writtenOff && failures > 0) && peer.backoffUntil <= now()
          assert.equal(judge.pathUsable('p'), usable, `a path is dropped for failures, not for "not now": ${context}`)
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('waits past its patience for a peer whose line moves for us: until its place stops shrinking for patienceMs, or linePatienceMs in all; a place that stays or grows is no progress', () => {
    // Moving up 1 place every 20 s (a long line): kept until linePatienceMs, then written off however it moves.
    const moving = setup()
    let place = 40
    for (let t = 0; t < LINE_PATIENCE_MS; t += 20_000) {
      moving.judge.notNow('p', 0, 2000, place--)
      assert.equal(moving.peer.writtenOff, false, `place ${place + 1} after ${t} ms`)
      moving.wait(20_000)
    }
    moving.judge.notNow('p', 0, 2000, place--)
    assert.equal(moving.peer.writtenOff, true, 'linePatienceMs without a delivery')

    // The same place all along: a first place is no progress, so patienceMs as for any "not now".
    const still = setup()
    still.judge.notNow('p', 0, 2000, 5)
    still.wait(PATIENCE_MS - 1)
    still.judge.notNow('p', 0, 2000, 5)
    assert.equal(still.peer.writtenOff, false)
    still.wait(1)
    still.judge.notNow('p', 0, 2000, 5)
    assert.equal(still.peer.writtenOff, true, 'a place that never shrinks')

    // Growing, then back down but not below the best said: no progress either.
    const growing = setup()
    for (const [ms, p] of [
      [0, 5],
      [20_000, 9],
      [20_000, 6],
      [19_999, 5],
    ] as const) {
      growing.wait(ms)
      growing.judge.notNow('p', 0, 2000, p)
    }
    growing.wait(1)
    growing.judge.notNow('p', 0, 2000, 7)
    assert.equal(growing.peer.writtenOff, true, 'only a place below every one said since its last delivery is progress')

    // Moved once, then stalled: patienceMs from that move. A delivery starts all over.
    const stalled = setup()
    stalled.judge.notNow('p', 0, 2000, 10)
    stalled.wait(50_000)
    stalled.judge.notNow('p', 0, 2000, 9)
    stalled.wait(PATIENCE_MS - 1)
    stalled.judge.notNow('p', 0, 2000, 9)
    assert.equal(stalled.peer.writtenOff, false, 'its line moved 59.999 s ago')
    stalled.peer.delivered(10, stalled.now())
    assert.equal(stalled.peer.linePlace, undefined, 'served: in no line')
    stalled.wait(PATIENCE_MS - 1)
    stalled.judge.notNow('p', 0, 2000, 30)
    assert.equal(stalled.peer.writtenOff, false, 'the back of the line after its turn: a new wait')
    stalled.wait(1)
    stalled.judge.notNow('p', 0, 2000, 30)
    assert.equal(stalled.peer.writtenOff, true)
  })
})
