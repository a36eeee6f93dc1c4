import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { UnprovenSessions } from '../../src/core/transfer/unproven-sessions.js'

/** A session as the holder sees it: how often it was closed. */
class FakeSession {
  destroys = 0
  /** Whether the other side's bytes came (a session to a made-up address: never). */
  heardFrom = false
  destroy(): void {
    this.destroys++
  }
}

describe('DHT sessions waiting for their challenge (unproven-sessions.ts)', () => {
  it('property: at most `max` wait; each leaves once (proven, closed, made to give way or closed at the end); one not heard from gives way first, the longest waiting', () => {
    const op = fc.oneof(
      fc.constant({ kind: 'arrive' as const }),
      fc.record({ kind: fc.constantFrom('prove' as const, 'close' as const, 'hear' as const), pick: fc.nat() }),
    )
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 80 }), (max, ops) => {
        const holder = new UnprovenSessions<FakeSession>(max)
        const waiting: FakeSession[] = [] // in arrival order
        const all: FakeSession[] = []
        const left = new Map<FakeSession, 'proven' | 'closed' | 'gave way'>()
        for (const o of ops) {
          if (o.kind === 'arrive') {
            const session = new FakeSession()
            all.push(session)
            const gaveWay = holder.add(session)
            if (waiting.length === max) {
              const expected = waiting.find((w) => !w.heardFrom) ?? waiting[0]!
              assert.equal(gaveWay, expected, 'the longest waiting of those not heard from, else of all, gives way')
              waiting.splice(waiting.indexOf(expected), 1)
              left.set(expected, 'gave way')
            } else assert.equal(gaveWay, undefined)
            waiting.push(session)
          } else if (o.kind === 'hear' && all.length > 0) {
            all[o.pick % all.length]!.heardFrom = true
          } else if (all.length > 0) {
            const session = all[o.pick % all.length]!
            const wasWaiting = waiting.includes(session)
            assert.equal(holder.leave(session), wasWaiting, 'true only when it was still waiting')
            if (wasWaiting) {
              waiting.splice(waiting.indexOf(session), 1)
              left.set(session, o.kind === 'prove' ? 'proven' : 'closed')
            }
          }
          assert.ok(holder.size <= max)
          assert.equal(holder.size, waiting.length)
        }
        holder.closeAll()
        assert.equal(holder.size, 0)
        for (const session of all) {
          const how = left.get(session)
          // Closed by the holder: made to give way, or still waiting at the end; never one that left by itself.
          const closedHere = how === 'gave way' || how === undefined
          assert.equal(session.destroys, closedHere ? 1 : 0)
        }
      }),
      { numRuns: 500 },
    )
  })
})
