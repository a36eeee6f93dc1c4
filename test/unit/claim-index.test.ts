import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import { type Claim, ClaimIndex, claimPeerKey, type PeerRecord } from '../../src/core/discovery/claim-index.js'

/** One change to the index: a claim heard (made or heard again), taken out, dropped, or its peer forgotten. */
type Op =
  | { kind: 'attach'; id: number; address: number; port: number }
  | { kind: 'detach' | 'drop'; id: number; address: number; port: number }
  | { kind: 'removePeer'; address: number; port: number }

const where = { address: fc.nat({ max: 3 }), port: fc.nat({ max: 3 }) }
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('attach' as const), id: fc.nat({ max: 2 }), ...where }),
  fc.record({ kind: fc.constantFrom('detach' as const, 'drop' as const), id: fc.nat({ max: 2 }), ...where }),
  fc.record({ kind: fc.constant('removePeer' as const), ...where }),
)

describe('claim index', () => {
  it("property: each file's claims per source address are the claims its order holds, counted afresh", () => {
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 120 }), (ops) => {
        const index = new ClaimIndex()
        const peers = new Map<string, PeerRecord>()
        for (const op of ops) {
          const address = `10.0.0.${op.address}`
          const key = claimPeerKey(address, op.port)
          if (op.kind === 'removePeer') {
            index.removePeer(key)
            peers.delete(key)
          } else if (op.kind === 'attach') {
            let peer = peers.get(key)
            if (!peer) {
              peer = { key, address, peer: 'p', transport: undefined, lastSeen: 0, ids: new Set() }
              peers.set(key, peer)
              index.touchPeer(peer)
            }
            const id = `f${op.id}`
            const claim: Claim = index.claim(id, key) ?? {
              ...{ id, key, cost: 0, peer: 'p', address, port: op.port },
              ...{ name: 'n', size: 0, chunks: 0, have: new Bitfield(0), lastSeen: 0 },
            }
            index.attach(claim, peer)
          } else {
            const claim = index.claim(`f${op.id}`, key)
            if (claim && op.kind === 'detach') index.detach(claim)
            if (claim && op.kind === 'drop') index.drop(claim)
          }
          for (let id = 0; id <= 2; id++) {
            const counts = new Map<string, number>()
            for (const c of index.files.get(`f${id}`)?.values() ?? [])
              counts.set(c.address, (counts.get(c.address) ?? 0) + 1)
            assert.deepEqual(new Map(index.fileAddresses(`f${id}`) ?? []), counts, `f${id}`)
          }
        }
      }),
      { numRuns: 300 },
    )
  })
})
