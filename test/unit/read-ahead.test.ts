import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { PREFETCH, ReadAhead } from '../../src/core/transfer/read-ahead.js'
import type { Pending } from '../../src/core/transfer/response-job.js'

/** An answer being prepared, as read-ahead sees it: whether it may be given back now, and how often it was disposed. */
interface FakeJob {
  request: Pending
  sheddable: boolean
  disposals: number
  dispose(): void
}

type Step =
  | { op: 'add'; count: number }
  | { op: 'fill'; stalled: boolean }
  /** A job's read starts (not sheddable) or ends (sheddable again). */
  | { op: 'read'; which: number; sheddable: boolean }
  /** The connection is over its share until this many answers are given back. */
  | { op: 'giveBack'; stalled: boolean; over: number }
  | { op: 'take' }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant('add' as const), count: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ op: fc.constant('fill' as const), stalled: fc.boolean() }),
  fc.record({ op: fc.constant('read' as const), which: fc.nat(), sheddable: fc.boolean() }),
  fc.record({ op: fc.constant('giveBack' as const), stalled: fc.boolean(), over: fc.integer({ min: 0, max: 6 }) }),
  fc.record({ op: fc.constant('take' as const) }),
)

const indexOf = (job: FakeJob): number => job.request.header.index as number

describe('read-ahead (read-ahead.ts)', () => {
  it('prepares up to PREFETCH in request order, none while stalled; gives back the newest sheddable ones, never the next to write unless stalled; hands answers over in order; disposes each job it keeps exactly once', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const made: FakeJob[] = []
        const taken: FakeJob[] = []
        const readAhead = new ReadAhead<FakeJob>((request) => {
          const job: FakeJob = {
            request,
            sheddable: true,
            disposals: 0,
            dispose() {
              this.disposals++
            },
          }
          made.push(job)
          return job
        })
        /** What read-ahead holds: made, neither disposed nor taken; in request order. */
        const held = (): FakeJob[] =>
          made.filter((job) => job.disposals === 0 && !taken.includes(job)).sort((a, b) => indexOf(a) - indexOf(b))
        let added = 0
        for (const s of steps) {
          if (s.op === 'add') {
            for (let i = 0; i < s.count; i++) readAhead.add({ header: { type: 'chunk', index: added++ }, own: false })
          } else if (s.op === 'fill') {
            const before = made.length
            readAhead.fill(s.stalled)
            if (s.stalled) assert.equal(made.length, before, 'nothing is prepared while the socket is stalled')
            else assert.equal(held().length, Math.min(PREFETCH, readAhead.unanswered))
          } else if (s.op === 'read') {
            const jobs = held()
            if (jobs.length > 0) jobs[s.which % jobs.length]!.sheddable = s.sheddable
          } else if (s.op === 'giveBack') {
            const before = held()
            // The rule, said plainly: newest first, while over the share, up to the first one being read,
            // keeping the next to write unless the socket is stalled.
            let expected = 0
            while (
              before.length - expected > (s.stalled ? 0 : 1) &&
              expected < s.over &&
              before[before.length - 1 - expected]!.sheddable
            )
              expected++
            let returned = 0
            readAhead.giveBack(
              s.stalled,
              () => returned < s.over,
              () => returned++,
            )
            assert.equal(returned, expected)
            assert.deepEqual(held(), before.slice(0, before.length - expected))
          } else {
            const next = readAhead.next
            assert.equal(next, held()[0])
            const job = readAhead.take()
            assert.equal(job, next)
            if (job) taken.push(job)
          }
          assert.ok(held().length <= PREFETCH)
          assert.equal(readAhead.unanswered, added - taken.length)
        }
        // However often answers were given back and prepared again, they leave in request order.
        assert.deepEqual(
          taken.map(indexOf),
          taken.map((_, i) => i),
        )
        readAhead.close()
        assert.equal(readAhead.unanswered, 0)
        // A job taken is the connection's to dispose; every other one was disposed here, once.
        for (const job of made) assert.equal(job.disposals, taken.includes(job) ? 0 : 1)
      }),
      { numRuns: 2000 },
    )
  })
})
