import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { addressKey } from '../../src/core/transfer/admission.js'
import { UnprovenSessions } from '../../src/core/transfer/unproven-sessions.js'

/** A session as the holder sees it: how often it was closed. */
class FakeSession {
  destroys = 0
  /** Whether the other side's bytes came (a session to a made-up address: never). */
  heardFrom = false
  constructor(public remoteAddress: string | undefined) {}
  destroy(): void {
    this.destroys++
  }
}

/** Those whose address (a global IPv6 address: its /64, as admission's) waits in the most places, longest waiting first. */
function mostPlaces(waiting: FakeSession[]): FakeSession[] {
  const group = (s: FakeSession) => addressKey(s.remoteAddress)
  const count = (s: FakeSession) => waiting.filter((w) => group(w) === group(s)).length
  const most = Math.max(...waiting.map(count))
  return waiting.filter((w) => count(w) === most)
}

describe('DHT sessions waiting for their challenge (unproven-sessions.ts)', () => {
  it('property: at most `max` wait; each leaves once (proven, closed, made to give way or closed at the end); of the address waiting in the most places, one not heard from gives way first, else the longest waiting', () => {
    const addresses = ['10.0.0.1', '10.0.0.2', '2001:db8::1', '2001:db8::2', undefined]
    const op = fc.oneof(
      fc.record({ kind: fc.constant('arrive' as const), from: fc.nat(addresses.length - 1), heard: fc.boolean() }),
      fc.record({ kind: fc.constantFrom('prove' as const, 'close' as const, 'hear' as const), pick: fc.nat() }),
      // A stream the relay had connect to its first packet's sender learns its address late.
      fc.record({ kind: fc.constant('move' as const), pick: fc.nat(), to: fc.nat(addresses.length - 1) }),
    )
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 80, size: 'large' }), (max, ops) => {
        const holder = new UnprovenSessions<FakeSession>(max)
        const waiting: FakeSession[] = [] // in arrival order
        const all: FakeSession[] = []
        const left = new Map<FakeSession, 'proven' | 'closed' | 'gave way'>()
        for (const o of ops) {
          if (o.kind === 'arrive') {
            const session = new FakeSession(addresses[o.from])
            session.heardFrom = o.heard
            all.push(session)
            const gaveWay = holder.add(session)
            if (waiting.length === max) {
              const crowded = mostPlaces(waiting)
              const expected = crowded.find((w) => !w.heardFrom) ?? crowded[0]!
              assert.equal(
                gaveWay,
                expected,
                'of the address waiting in the most places, the longest waiting not heard from, else the longest waiting, gives way',
              )
              waiting.splice(waiting.indexOf(expected), 1)
              left.set(expected, 'gave way')
            } else assert.equal(gaveWay, undefined)
            waiting.push(session)
          } else if (o.kind === 'hear' && all.length > 0) {
            all[o.pick % all.length]!.heardFrom = true
          } else if (o.kind === 'move' && all.length > 0) {
            all[o.pick % all.length]!.remoteAddress = addresses[o.to]
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
