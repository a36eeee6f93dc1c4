import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { Announcement } from '../../src/core/discovery/announcement.js'
import { ContentDictionary } from '../../src/core/discovery/dictionary.js'

/**
 * The peer cap (`maxPeers`): past it, the address holding the most peers
 * gives up the one it was heard from longest ago, so an honest peer
 * announcing every interval is not pushed out by fake peers from many
 * addresses, each heard after it (an attacker pass on p2p-listen: from 64
 * addresses it was missing four times in five). Every peer pushed out
 * counts its claims as evicted.
 */

const ID = 'b'.repeat(64)
const LIMITS = { maxPeers: 12, maxPeersPerAddress: 4, maxPeersPerFile: 1000 }
const hello = (peer: string, port: number): Announcement => ({
  type: 'announce',
  peer,
  port,
  files: [{ id: ID, name: 'x.bin', size: 4096, chunks: 1, have: 'all', from: 0 }],
})
const peersOf = (d: ContentDictionary): string[] => (d.file(ID)?.peers ?? []).map((p) => `${p.address}:${p.port}`)

describe('the peer cap', () => {
  it('keeps an honest peer heard before a flood of new ports from many addresses, and counts what it evicts', () => {
    const d = new ContentDictionary(LIMITS)
    d.merge(hello('honest', 7000), '10.0.0.1', 0)
    for (let i = 0; i < 400; i++) d.merge(hello(`fake${i}`, 1000 + i), `10.0.1.${i % 8}`, 1 + i)
    assert.ok(peersOf(d).includes('10.0.0.1:7000'), 'the honest peer is still listed')
    assert.equal(d.peerCount, LIMITS.maxPeers)
    assert.equal(d.stats.evicted, 400 + 1 - LIMITS.maxPeers, 'every peer pushed out, counted once')
  })

  it('property: a peer pushed out by the caps is the least recently heard of an address that held the most peers', () => {
    // One address rarely heard (an honest peer), four busy ones whose peers together pass the cap.
    const arrival = fc.record({ address: fc.nat(99).map((n) => (n < 8 ? 0 : 1 + (n % 4))), port: fc.nat(7) })
    fc.assert(
      fc.property(fc.array(arrival, { minLength: 20, maxLength: 80, size: 'max' }), (arrivals) => {
        const d = new ContentDictionary(LIMITS)
        const lastHeard = new Map<string, number>()
        arrivals.forEach(({ address, port }, at) => {
          const before = peersOf(d)
          const byAddress = new Map<string, string[]>()
          for (const key of before) {
            const a = key.slice(0, key.lastIndexOf(':'))
            byAddress.set(a, [...(byAddress.get(a) ?? []), key])
          }
          const from = `10.0.2.${address}`
          d.merge(hello(`p${address}-${port}`, 2000 + port), from, at)
          lastHeard.set(`${from}:${2000 + port}`, at)
          const after = new Set(peersOf(d))
          const gone = before.filter((key) => !after.has(key))
          assert.ok(gone.length <= 1, 'one peer at most goes for one newcomer')
          for (const key of gone) {
            const a = key.slice(0, key.lastIndexOf(':'))
            const own = byAddress.get(a)!
            if (a !== from) {
              const most = Math.max(...[...byAddress.values()].map((keys) => keys.length))
              assert.equal(own.length, most, `${key} went though its address held fewer peers than another`)
            }
            const oldestOfOwn = Math.min(...own.map((k) => lastHeard.get(k)!))
            assert.equal(lastHeard.get(key), oldestOfOwn, `${key} was not its address's least recently heard`)
          }
          assert.ok(d.peerCount <= LIMITS.maxPeers)
        })
      }),
    )
  })
})
