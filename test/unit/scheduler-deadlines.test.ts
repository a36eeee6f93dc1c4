import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import { Scheduler } from '../../src/core/download/scheduler.js'
import type { SchedulerOptions } from '../../src/core/download/scheduler-options.js'

/**
 * The scheduler judges peers by what they deliver (FAULTS.md case 40): probe
 * windows, deadlines adapted to each peer's time per chunk, hedged requests,
 * giving up on peers that stop delivering — all on an injected clock.
 */

const all = (length: number): Bitfield => Bitfield.full(length)

function clocked(count: number, options: SchedulerOptions = {}) {
  const clock = { now: 0 }
  const s = new Scheduler(count, { now: () => clock.now, ...options })
  return {
    s,
    clock,
    tick: (ms: number) => {
      clock.now += ms
    },
  }
}

describe('scheduler: delivery-driven windows and deadlines', () => {
  it('a new peer gets only its probe window; after it delivers, a window sized to its time per chunk', () => {
    const { s, tick } = clocked(100, { probeWindow: 2, window: 16 })
    s.setPeer('fast', all(100))
    s.setPeer('slow', all(100))
    assert.deepEqual([s.next('fast'), s.next('fast'), s.next('fast')], [0, 1, undefined])
    assert.deepEqual([s.next('slow'), s.next('slow'), s.next('slow')], [2, 3, undefined])
    tick(5)
    s.succeeded('fast', 0, 10)
    assert.equal(s.windowOf('fast'), 16, '5 ms per chunk earns the whole window')
    tick(295)
    s.succeeded('slow', 2, 10)
    assert.equal(s.windowOf('slow'), 2, '300 ms per chunk: about 500 ms of work queued')
    assert.ok(s.isProven('slow'))
  })

  it('a vouched-for peer (it delivered the manifest) counts as proven, but gets only the probe window until it delivers', () => {
    const { s, tick } = clocked(40, { probeWindow: 2, window: 8 })
    s.vouch('seeder')
    s.setPeer('seeder', all(40))
    s.setPeer('stranger', all(40))
    assert.ok(s.isProven('seeder'))
    assert.equal(s.isProven('stranger'), false)
    let n = 0
    while (s.next('seeder') !== undefined) n++
    assert.equal(n, 2, 'not a whole window in index order before any other download is heard')
    assert.equal(s.windowOf('stranger'), 2)
    // It never delivers: dropped at twice the first deadline, and probed like anyone next time.
    tick(2000)
    assert.deepEqual(s.giveUpOverdue(), ['seeder'])
    assert.equal(s.isProven('seeder'), false)
    assert.equal(s.windowOf('seeder'), 2)
  })

  it('a peer that never delivers: overdue at its first deadline (its chunks hedged, no new work), dropped at twice that', () => {
    const { s, tick } = clocked(8, { firstDeadlineMs: 1000 })
    s.setPeer('silent', all(8))
    assert.deepEqual([s.next('silent'), s.next('silent')], [0, 1])
    s.setPeer('honest', all(8))
    s.vouch('honest')
    tick(999)
    assert.equal(s.isOverdue('silent'), false)
    assert.equal(s.nextDeadlineIn(), 1)
    assert.deepEqual(s.giveUpOverdue(), [])
    tick(1)
    assert.ok(s.isOverdue('silent'))
    assert.equal(s.next('silent'), undefined)
    assert.deepEqual(s.giveUpOverdue(), [])
    // Its chunks are hedged: the honest peer is asked for them first, oldest first.
    assert.deepEqual([s.next('honest'), s.next('honest')], [0, 1])
    tick(1000)
    assert.deepEqual(s.giveUpOverdue(), ['silent'])
    assert.equal(s.inFlight('silent'), 0)
    assert.ok(s.readyIn('silent') > 0, 'it backs off')
    // The connection it was dropped with fails its requests later: no second backoff step, no strike.
    const before = s.readyIn('silent')
    s.failed('silent', 0, 'error')
    s.failed('silent', 1, 'cancelled')
    assert.equal(s.readyIn('silent'), before)
    const report = s.report().find((p) => p.key === 'silent')!
    assert.equal(report.strikes, 0)
    assert.equal(report.banned, undefined)
    assert.equal(report.failures, 1)
  })

  it('a delivering peer that stalls: hedged after 4 × its time per chunk (floor 1 s), given up on after 4 × that', () => {
    const { s, tick, clock } = clocked(40, { probeWindow: 2, window: 4, deadlineFloorMs: 1000 })
    s.setPeer('a', all(40))
    s.next('a')
    tick(10)
    s.succeeded('a', 0, 1) // 10 ms per chunk
    const held = [s.next('a'), s.next('a'), s.next('a'), s.next('a')]
    assert.deepEqual(held, [1, 2, 3, 4])
    s.setPeer('b', all(40))
    // Before the deadline b gets fresh chunks, not a's.
    assert.equal(s.next('b'), 5)
    tick(999)
    assert.equal(s.isOverdue('a'), false)
    tick(1)
    assert.ok(s.isOverdue('a'))
    // b delivers chunk 5, proving itself; then it hedges a's chunks, oldest request first.
    s.succeeded('b', 5, 1)
    assert.deepEqual([s.next('b'), s.next('b')], [1, 2])
    // A copy from b wins (a still owes its answer).
    tick(10)
    assert.deepEqual(s.succeeded('b', 1, 1), ['a'])
    assert.equal(s.isOverdue('a'), true)
    tick(2980)
    assert.deepEqual(s.giveUpOverdue(), [], 'not before 4 s without a delivery')
    assert.equal(s.nextDeadlineIn(), 10)
    tick(10)
    assert.equal(clock.now, 4010)
    assert.deepEqual(s.giveUpOverdue(), ['a'])
    assert.equal(s.report().find((p) => p.key === 'a')!.strikes, 0)
    // Had its late answer come instead, it would have counted as a sign of life.
    const again = clocked(2, { probeWindow: 2, deadlineFloorMs: 1000 })
    again.s.setPeer('a', all(2))
    again.s.next('a')
    again.s.next('a')
    again.tick(1000)
    assert.ok(again.s.isOverdue('a'))
    again.s.discard('a', 0)
    assert.equal(again.s.isOverdue('a'), false)
  })

  it('a peer is judged from when its bytes arrive: verification queued on our side is not held against it', () => {
    const { s, tick } = clocked(4, { probeWindow: 2, firstDeadlineMs: 1000 })
    s.setPeer('a', all(4))
    s.next('a')
    s.next('a')
    tick(10)
    s.arrived('a', 0)
    s.arrived('a', 1)
    tick(5000) // the hash thread is slow today
    assert.equal(s.isOverdue('a'), false)
    assert.deepEqual(s.giveUpOverdue(), [])
    assert.equal(s.nextDeadlineIn(), Infinity)
    s.succeeded('a', 0, 1)
    s.failed('a', 1, 'checksum')
    assert.equal(s.report()[0]!.msPerChunk, 10 * 0.75) // samples: 10 ms, then 0 ms (pipelined behind it)
  })

  it('a peer slow to start gets more patience at each try (dropped after 2 s, 4 s, then 8 s), while its chunks are hedged at 1 s', () => {
    const { s, tick } = clocked(10, { firstDeadlineMs: 1000, backoffBaseMs: 100 })
    s.setPeer('late', all(10))
    s.setPeer('other', all(10))
    const firstChunkMs = 5000
    const patience: number[] = []
    for (;;) {
      while (s.next('late') === undefined) tick(50) // backing off
      let waited = 0
      for (; waited < firstChunkMs; waited += 100) {
        tick(100)
        if (waited + 100 === 1000) assert.ok(s.isOverdue('late'), 'its chunk is hedged at 1 s')
        if (s.giveUpOverdue().length > 0) break
      }
      if (waited >= firstChunkMs) break
      patience.push(waited + 100)
    }
    assert.deepEqual(patience, [2000, 4000])
    // The third try waits up to 8 s: long enough for a first chunk that takes 5 s.
    s.arrived('late', 0) // every try asked for chunk 0 (a dropped try's chunks go back)
    assert.ok(s.isProven('late'))
  })

  it('deadlines never exceed maxDeadlineMs (the request timeout)', () => {
    const { s, tick } = clocked(4, { firstDeadlineMs: 5000, maxDeadlineMs: 300 })
    s.setPeer('a', all(4))
    s.next('a')
    tick(300)
    assert.deepEqual(s.giveUpOverdue(), ['a'])
  })

  it('responses that break the protocol are strikes: maxStrikes of them ban the peer', () => {
    const { s } = clocked(8, { maxStrikes: 3, probeWindow: 8 })
    s.setPeer('liar', all(8))
    assert.equal(s.failed('liar', s.next('liar')!, 'protocol', 'declared 60 MiB for chunk 0'), false)
    assert.equal(s.failed('liar', s.next('liar')!, 'checksum', 'chunk 1'), false)
    assert.equal(s.failed('liar', s.next('liar')!, 'protocol', 'declared 1 byte for chunk 2'), true)
    assert.match(s.report()[0]!.banned!, /broke the protocol.*1 byte/)
    assert.equal(s.readyIn('liar'), Infinity)
  })

  it('a slow but honest peer is used less, never overdue, never banned', () => {
    const { s, tick } = clocked(200, { probeWindow: 2, window: 16 })
    s.setPeer('slow', all(200))
    s.setPeer('fast', all(200))
    const due = new Map<string, Array<{ index: number; at: number }>>([
      ['slow', []],
      ['fast', []],
    ])
    const ms = { slow: 300, fast: 5 }
    const last = { slow: 0, fast: 0 }
    let now = 0
    for (let step = 0; step < 100_000 && !s.finished; step++) {
      for (const key of ['slow', 'fast'] as const) {
        for (let i = s.next(key); i !== undefined; i = s.next(key)) {
          last[key] = Math.max(now, last[key]) + ms[key]
          due.get(key)!.push({ index: i, at: last[key] })
        }
      }
      assert.deepEqual(s.giveUpOverdue(), [])
      assert.equal(s.isOverdue('slow'), false)
      const at = Math.min(...[...due.values()].flatMap((q) => q.map((d) => d.at)))
      tick(at - now)
      now = at
      for (const [key, queue] of due) {
        while (queue[0] && queue[0].at <= now) {
          const { index } = queue.shift()!
          if (s.isDone(index)) s.discard(key, index)
          else s.succeeded(key, index, 1)
        }
      }
    }
    assert.ok(s.finished)
    const [slow, fast] = ['slow', 'fast'].map((k) => s.report().find((p) => p.key === k)!)
    assert.ok(slow!.chunks > 0 && slow!.chunks < fast!.chunks / 10, `${slow!.chunks} vs ${fast!.chunks}`)
    assert.equal(slow!.banned, undefined)
    assert.equal(slow!.strikes, 0)
    assert.ok(s.windowOf('slow') <= 2)
  })

  it('property: silent, stalling and slow peers beside one fast complete seeder cost a few seconds at most, and nobody is banned', () => {
    const behaviour = fc.oneof(
      fc.constant({ kind: 'silent' as const, ms: Infinity, stallAfter: 0 }),
      fc.record({
        kind: fc.constant('slow' as const),
        ms: fc.integer({ min: 20, max: 400 }),
        stallAfter: fc.constant(Infinity),
      }),
      fc.record({
        kind: fc.constant('stalls' as const),
        ms: fc.integer({ min: 1, max: 50 }),
        stallAfter: fc.integer({ min: 0, max: 30 }),
      }),
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 120 }),
        fc.array(behaviour, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 20 }),
        (count, others, fastMs) => {
          const { s, tick } = clocked(count, {
            probeWindow: 2,
            window: 8,
            firstDeadlineMs: 1000,
            deadlineFloorMs: 1000,
            maxDeadlineMs: 30_000,
          })
          const peers = [{ kind: 'fast' as const, ms: fastMs, stallAfter: Infinity }, ...others].map((b, i) => ({
            ...b,
            key: `p${i}`,
            delivered: 0,
            last: 0,
            due: [] as Array<{ index: number; at: number }>,
          }))
          // Hostile ones announce first, so they are asked first.
          for (const p of [...peers].reverse()) s.setPeer(p.key, all(count))
          let now = 0
          for (let step = 0; step < 200_000 && !s.finished; step++) {
            for (const key of s.giveUpOverdue()) {
              const p = peers.find((q) => q.key === key)!
              // its connection is closed
              for (const [i, d] of p.due.entries()) s.failed(key, d.index, i === 0 ? 'error' : 'cancelled')
              p.due = []
              p.last = now
            }
            for (const p of peers) {
              for (let i = s.next(p.key); i !== undefined; i = s.next(p.key)) {
                const silent = p.delivered + p.due.length >= p.stallAfter
                p.last = silent ? Infinity : Math.max(now, p.last) + p.ms
                p.due.push({ index: i, at: p.last })
              }
            }
            const wakeups = [
              ...peers.flatMap((p) => p.due.map((d) => d.at)),
              now + s.nextDeadlineIn(),
              ...peers.map((p) => now + (s.readyIn(p.key) || Infinity)),
            ]
            const at = Math.max(now + 1, Math.min(...wakeups.filter(Number.isFinite)))
            tick(at - now)
            now = at
            for (const p of peers) {
              while (p.due[0] && p.due[0].at <= now) {
                const { index } = p.due.shift()!
                p.delivered++
                if (s.isDone(index)) s.discard(p.key, index)
                else s.succeeded(p.key, index, 1)
              }
            }
          }
          assert.ok(s.finished, 'finished')
          // Alone, the fast seeder takes count × fastMs; hostile peers may add their first deadline and a few hedges.
          assert.ok(now <= count * fastMs + 4000, `took ${now} ms for ${count} chunks at ${fastMs} ms`)
          for (const r of s.report()) {
            assert.equal(r.banned, undefined)
            assert.equal(r.strikes, 0)
          }
          for (const p of peers)
            if (p.kind === 'silent') assert.equal(s.report().find((r) => r.key === p.key)!.chunks, 0)
        },
      ),
      { numRuns: 150 },
    )
  })
})
