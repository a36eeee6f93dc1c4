import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import { type Claim, ClaimIndex, claimPeerKey, type PeerRecord } from '../../src/core/discovery/claim-index.js'
import { IndexedHeap } from '../../src/core/indexed-heap.js'

describe('IndexedHeap', () => {
  it('property: its top is a largest item under any adds, key changes and deletes', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), item: fc.nat(11), key: fc.integer({ min: -5, max: 5 }) }),
      fc.record({ kind: fc.constant('delete' as const), item: fc.nat(11) }),
    )
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 120, size: 'max' }), (ops) => {
        const items = Array.from({ length: 12 }, () => ({ key: 0 }))
        const heap = new IndexedHeap<{ key: number }>((a, b) => a.key > b.key)
        const inHeap = new Set<{ key: number }>()
        for (const o of ops) {
          const item = items[o.item]!
          if (o.kind === 'set') {
            item.key = o.key
            heap.update(item)
            inHeap.add(item)
          } else assert.equal(heap.delete(item), inHeap.delete(item))
          assert.equal(heap.size, inHeap.size)
          for (const it of items) assert.equal(heap.has(it), inHeap.has(it))
          const most = Math.max(...[...inHeap].map((it) => it.key))
          assert.equal(heap.top()?.key, inHeap.size === 0 ? undefined : most)
        }
      }),
    )
  })
})

describe('ClaimIndex: the richest and the most crowded address', () => {
  it('property: both agree with a scan of every address under any peers and claims coming and going', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('hear' as const), address: fc.nat(5), port: fc.nat(3) }),
      fc.record({
        kind: fc.constant('claim' as const),
        address: fc.nat(5),
        port: fc.nat(3),
        id: fc.nat(3),
        cost: fc.nat(9),
      }),
      fc.record({ kind: fc.constant('drop' as const), address: fc.nat(5), port: fc.nat(3), id: fc.nat(3) }),
      fc.record({ kind: fc.constant('forget' as const), address: fc.nat(5), port: fc.nat(3) }),
    )
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 150, size: 'max' }), (ops) => {
        const index = new ClaimIndex()
        const addresses = Array.from({ length: 6 }, (_, n) => `10.0.0.${n}`)
        let now = 0
        const hear = (address: string, port: number): PeerRecord => {
          const key = claimPeerKey(address, port)
          const record = index.peers.get(key) ?? {
            key,
            address,
            peer: key,
            transport: undefined,
            lastSeen: 0,
            ids: new Set(),
          }
          record.lastSeen = ++now
          index.touchPeer(record)
          return record
        }
        for (const o of ops) {
          const address = addresses[o.address]!
          const key = claimPeerKey(address, o.port)
          if (o.kind === 'hear') hear(address, o.port)
          else if (o.kind === 'claim') {
            const id = String(o.id)
            const peer = hear(address, o.port)
            const claim: Claim = index.claim(id, key) ?? {
              ...{ id, key, cost: 0, peer: key, address, port: o.port, name: 'x', size: 1, chunks: 1 },
              ...{ have: new Bitfield(1), lastSeen: now },
            }
            index.account(claim, o.cost)
            index.attach(claim, peer)
          } else if (o.kind === 'drop') {
            const claim = index.claim(String(o.id), key)
            if (claim) index.drop(claim)
          } else index.removePeer(key)

          const views = addresses.map((a) => index.address(a)).filter((v) => v !== undefined)
          const withClaims = views.filter((v) => v.claims.size > 0)
          const most = Math.max(...withClaims.map((v) => v.bytes))
          assert.equal(index.richest()?.bytes, withClaims.length === 0 ? undefined : most)
          const withPeers = views.filter((v) => v.peers.size > 0)
          const crowd = Math.max(...withPeers.map((v) => v.peers.size))
          const oldest = Math.min(
            ...withPeers.filter((v) => v.peers.size === crowd).map((v) => v.peers.oldest()!.lastSeen),
          )
          const top = index.crowdest()
          if (withPeers.length === 0) assert.equal(top, undefined)
          else {
            assert.equal(top?.peers.size, crowd)
            assert.equal(top?.peers.oldest()?.lastSeen, oldest)
          }
        }
      }),
    )
  })
})
