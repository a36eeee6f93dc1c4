import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { fetchOrder, keptForProbes, type PeerStanding } from '../../src/core/download/fetch-order.js'

interface Peer {
  proven: boolean
  misses: number
  last?: boolean
  readyIn?: number
  inFlight?: number
}

const standingOf = (peers: Record<string, Peer>): PeerStanding => ({
  isProven: (k) => peers[k]!.proven,
  misses: (k) => peers[k]!.misses,
  asksLast: (k) => peers[k]!.last ?? false,
  readyIn: (k) => peers[k]!.readyIn ?? 0,
  inFlight: (k) => peers[k]!.inFlight ?? 0,
})

describe('fetch order', () => {
  it('fills proven peers first, a seeder in a swarm after the other proven ones, then the unproven by misses', () => {
    const peers: Record<string, Peer> = {
      seeder: { proven: true, misses: 0, last: true },
      stranger: { proven: false, misses: 0 },
      download: { proven: true, misses: 0 },
      flaky: { proven: false, misses: 3 },
      other: { proven: true, misses: 1 },
    }
    const keys = Object.keys(peers)
    for (let turn = 0; turn < keys.length; turn++) {
      const order = fetchOrder(keys, standingOf(peers), turn)
      assert.deepEqual(new Set(order.slice(0, 2)), new Set(['download', 'other']), `turn ${turn}`)
      assert.deepEqual(order.slice(2), ['seeder', 'stranger', 'flaky'], `turn ${turn}`)
    }
  })

  it('starts from a different peer on each pass among equals', () => {
    const peers: Record<string, Peer> = { a: { proven: false, misses: 0 }, b: { proven: false, misses: 0 } }
    assert.deepEqual(fetchOrder(['a', 'b'], standingOf(peers), 0), ['a', 'b'])
    assert.deepEqual(fetchOrder(['a', 'b'], standingOf(peers), 1), ['b', 'a'])
    assert.deepEqual(fetchOrder([], standingOf(peers), 7), [])
  })

  it('property: every peer once, and no seeder in a swarm ahead of a proven peer that is not one', () => {
    const peer = fc.record({ proven: fc.boolean(), misses: fc.nat(5), last: fc.boolean() })
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), peer), fc.nat(), (peers, turn) => {
        for (const p of Object.values(peers)) p.last &&= p.proven // only a proven peer is ranked by it
        const keys = Object.keys(peers)
        const order = fetchOrder(keys, standingOf(peers), turn)
        assert.deepEqual([...order].sort(), [...keys].sort())
        const rank = (k: string): number => (peers[k]!.proven ? (peers[k]!.last ? 1 : 0) : 2)
        for (let i = 1; i < order.length; i++) assert.ok(rank(order[i - 1]!) <= rank(order[i]!))
      }),
    )
  })

  it('keeps a probe free only while an unproven peer may be asked and has nothing out', () => {
    const ready = { a: { proven: true, misses: 0 }, b: { proven: false, misses: 0 } }
    assert.equal(keptForProbes(['a', 'b'], standingOf(ready), 8, 0), 2)
    assert.equal(keptForProbes(['a', 'b'], standingOf(ready), 8, 1), 1, 'less the probes already out')
    assert.equal(keptForProbes(['a', 'b'], standingOf(ready), 1, 0), 1, 'never more than the probes allowed')
    const busy = { a: { proven: true, misses: 0 }, b: { proven: false, misses: 0, inFlight: 1 } }
    assert.equal(keptForProbes(['a', 'b'], standingOf(busy), 8, 1), 0)
    const backingOff = { a: { proven: true, misses: 0 }, b: { proven: false, misses: 0, readyIn: 500 } }
    assert.equal(keptForProbes(['a', 'b'], standingOf(backingOff), 8, 0), 0)
  })
})
