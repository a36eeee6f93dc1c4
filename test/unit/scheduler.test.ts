// Which chunk the scheduler asks of which peer: rarest first, seeders asked last in a swarm, ties broken in an
// order of its own, the endgame, have-sets changed in place; every chunk finished exactly once.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Scheduler } from '../../src/core/download/scheduler.js'
import { all, bits } from '../helpers/bitfields.js'

describe('scheduler', () => {
  it('asks for the rarest chunk first, then the lowest index', () => {
    const s = new Scheduler(4, { random: () => 0 })
    s.setPeer('a', all(4))
    s.setPeer('b', bits(4, [0, 1, 2]))
    // chunk 3 only a has: rarest
    assert.equal(s.next('a'), 3)
    assert.equal(s.next('a'), 0)
    assert.equal(s.next('b'), 1)
  })

  it('from complete seeders alone, takes chunks in index order', () => {
    const s = new Scheduler(6, { probeWindow: 6, random: () => 0.5 })
    s.setPeer('seeder', all(6))
    assert.deepEqual(
      [0, 1, 2, 3].map(() => s.next('seeder')),
      [0, 1, 2, 3],
    )
  })

  it('marks a peer holding every chunk to be asked last only while a peer holding part of the file is about', () => {
    const s = new Scheduler(4, { random: () => 0 })
    s.setPeer('seeder', all(4))
    s.setPeer('second seeder', bits(4, [0, 1, 2, 3]))
    assert.equal(s.asksLast('seeder'), false, 'complete seeders alone: no swarm, nobody last')
    s.setPeer('other download', bits(4, [1]))
    assert.deepEqual(
      ['seeder', 'second seeder', 'other download'].map((k) => s.asksLast(k)),
      [true, true, false],
    )
    // asked after it, the seeder still gets what only seeders have: rarest first
    assert.equal(s.next('other download'), 1)
    assert.equal(s.next('seeder'), 0)
    s.setPeer('other download', all(4)) // it finished: no partial peer left
    assert.equal(s.asksLast('seeder'), false)
    s.setPeer('other download', bits(4, [1]))
    s.banNow('other download', 'lied')
    assert.equal(s.asksLast('seeder'), false, 'a banned peer is not a swarm')
    assert.equal(s.asksLast('unknown'), false)
  })

  it('once another download is seen, breaks ties in a random order of its own, kept, so downloads that started together diverge', () => {
    const draws = (values: number[]): (() => number) => {
      let i = 0
      return () => values[i++ % values.length]!
    }
    // chunk ranks 0.9, 0.1, 0.5, 0.3, 0.8, 0.2, 0.7, 0.6: chunk 0 is held twice (last), then by rank
    const s = new Scheduler(8, { probeWindow: 8, random: draws([0.9, 0.1, 0.5, 0.3, 0.8, 0.2, 0.7, 0.6]) })
    s.setPeer('seeder', all(8))
    s.setPeer('other download', bits(8, [0]))
    assert.deepEqual(
      [1, 2, 3].map(() => s.next('seeder')),
      [1, 5, 3],
    )
    // the ranks stay when the order is rebuilt (no new draw)
    s.setPeer('other download', bits(8, [0, 2]))
    assert.deepEqual(
      [1, 2, 3].map(() => s.next('seeder')),
      [7, 6, 4],
    )
    // two downloads with different draws start on different chunks
    const first = (random: () => number): number | undefined => {
      const t = new Scheduler(64, { probeWindow: 8, random })
      t.setPeer('seeder', all(64))
      t.setPeer('other download', bits(64, [0]))
      return t.next('seeder')
    }
    assert.notEqual(first(draws([0.5, 0.1, 0.9])), first(draws([0.5, 0.9, 0.1])))
  })

  it('never hands one chunk to two peers before the endgame, and finishes', () => {
    const s = new Scheduler(6, { probeWindow: 3 })
    s.setPeer('a', all(6))
    s.setPeer('b', all(6))
    const taken = new Set<number>()
    for (let i = 0; i < 3; i++) {
      for (const peer of ['a', 'b']) {
        const index = s.next(peer)!
        assert.ok(!taken.has(index))
        taken.add(index)
      }
    }
    assert.equal(taken.size, 6)
    for (const i of taken) s.succeeded(s.inFlight('a') > 0 && i % 2 === 0 ? 'a' : 'b', i, 10)
    assert.ok(s.finished)
  })

  it('in the endgame asks a second peer for a chunk still in flight, at most endgameRequests peers', () => {
    const s = new Scheduler(1, { endgameRequests: 2 })
    s.setPeer('a', all(1))
    s.setPeer('b', all(1))
    s.setPeer('c', all(1))
    assert.equal(s.next('a'), 0)
    assert.equal(s.next('b'), 0)
    assert.equal(s.next('c'), undefined)
    assert.deepEqual(s.succeeded('b', 0, 5), ['a'])
    assert.equal(s.next('c'), undefined)
    assert.ok(s.finished)
  })

  it("sees a have-set changed in place (the dictionary's own field), even a bit cleared and set again between two looks", () => {
    const s = new Scheduler(4, { probeWindow: 4, random: () => 0 })
    const have = bits(4, [0, 1, 2])
    s.setPeer('a', have)
    assert.equal(s.next('a'), 0)
    have.set(1, false) // between two looks: its cursor walks past chunk 1 while it is not held...
    assert.equal(s.next('a'), 2)
    have.set(1) // ...and it is back: the bytes are as last seen, but the field's change count moved
    s.setPeer('a', have)
    assert.equal(s.next('a'), 1)
    have.set(3) // announced in place, the same object passed again
    s.setPeer('a', have)
    assert.equal(s.next('a'), 3)
  })

  it('returns the chunks of a peer that leaves', () => {
    const s = new Scheduler(2)
    s.setPeer('a', all(2))
    s.setPeer('b', all(2))
    assert.equal(s.next('a'), 0)
    assert.equal(s.next('a'), 1)
    assert.equal(s.next('b'), 0) // endgame
    s.removePeer('a')
    assert.equal(s.next('b'), 1)
    assert.equal(s.report().length, 2)
  })

  it('property: with any have-sets covering every chunk, serving requests in any order finishes exactly once per chunk', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 200 }),
        (count, haves, choices) => {
          const s = new Scheduler(count)
          const peers = haves.map((h, p) => {
            const have = bits(
              count,
              h.slice(0, count).flatMap((v, i) => (v ? [i] : [])),
            )
            if (p === 0) for (let i = 0; i < count; i++) have.set(i) // someone has everything
            s.setPeer(`p${p}`, have)
            return `p${p}`
          })
          const inflight: Array<[string, number]> = []
          let completions = 0
          for (let step = 0; step < 10_000 && !s.finished; step++) {
            for (const p of peers) {
              while (s.inFlight(p) < 4) {
                const i = s.next(p)
                if (i === undefined) break
                inflight.push([p, i])
              }
            }
            const pick = inflight.splice((choices[step % Math.max(1, choices.length)] ?? 0) % inflight.length, 1)[0]!
            if (!s.isDone(pick[1])) completions++
            s.succeeded(pick[0], pick[1], 1)
          }
          return s.finished && completions === count
        },
      ),
      { numRuns: 200 },
    )
  })
})
