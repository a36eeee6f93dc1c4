import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { type CandidateRecord, nextCandidates } from '../../src/core/download/manifest-candidates.js'

/** The manifest race's choice (FAULTS #40): addresses take turns, so many ports at one address count once. */

interface Peer {
  address: string
  port: number
}

const crowd = (addresses: number, ports: number): Peer[] =>
  Array.from({ length: addresses * ports }, (_, i) => ({
    address: `10.0.1.${Math.floor(i / ports) + 1}`,
    port: 40_000 + (i % ports),
  }))

const record = (turns: Record<string, number> = {}, misses: Record<string, number> = {}): CandidateRecord<Peer> => ({
  addressOf: (p) => p.address,
  turnsOf: (address) => turns[address] ?? 0,
  missesOf: (p) => misses[`${p.address}:${p.port}`] ?? 0,
})

describe('manifest candidates: turns by address', () => {
  it('16 addresses × 15 ports and a seeder alone: one of each address before any address twice', () => {
    const seeder = { address: '10.0.2.1', port: 47000 }
    for (let run = 0; run < 50; run++) {
      const chosen = nextCandidates([...crowd(16, 15), seeder], 17, record())
      assert.equal(new Set(chosen.map((p) => p.address)).size, 17)
      assert.ok(chosen.includes(seeder))
    }
  })

  it('an address asked more often so far waits until the others have caught up', () => {
    const peers = crowd(3, 4)
    const chosen = nextCandidates(peers, 4, record({ '10.0.1.1': 2, '10.0.1.2': 1 }))
    // 10.0.1.3 (0 turns) first, then 10.0.1.2 and 10.0.1.3 (1 each) in either order; then all three have 2.
    assert.equal(chosen[0]?.address, '10.0.1.3')
    assert.deepEqual(
      chosen
        .slice(1, 3)
        .map((p) => p.address)
        .sort(),
      ['10.0.1.2', '10.0.1.3'],
    )
    assert.equal(chosen.length, 4)
  })

  it("a candidate the user named (a share link's seeder) first, whatever its turns and misses; then the others by turns", () => {
    const named = { address: 'dht:SEEDER', port: 0 }
    const isNamed = (p: Peer): boolean => p === named
    for (let run = 0; run < 20; run++) {
      const chosen = nextCandidates([...crowd(16, 4), named], 5, {
        ...record({ 'dht:SEEDER': 9 }, { 'dht:SEEDER:0': 3 }),
        named: isNamed,
      })
      assert.equal(chosen[0], named)
      assert.equal(new Set(chosen.slice(1).map((p) => p.address)).size, 4, 'the rest still take turns')
    }
  })

  it('within an address, a candidate that failed less first; among equals, any of them', () => {
    const peers = crowd(1, 3)
    const misses = { '10.0.1.1:40000': 2, '10.0.1.1:40001': 1 }
    assert.deepEqual(
      nextCandidates(peers, 3, record({}, misses)).map((p) => p.port),
      [40002, 40001, 40000],
    )
    const first = new Set<number>()
    for (let run = 0; run < 200; run++) first.add(nextCandidates(crowd(1, 5), 1, record())[0]!.port)
    assert.equal(first.size, 5, 'which port of an address is asked first is drawn, not listed order')
  })

  it('none when nothing may be asked; never more than asked for or offered', () => {
    assert.deepEqual(nextCandidates(crowd(2, 2), 0, record()), [])
    assert.deepEqual(nextCandidates([], 5, record()), [])
    assert.equal(nextCandidates(crowd(2, 2), 9, record()).length, 4)
  })

  it('property: each candidate at most once, and no address asked twice while another offered has fewer turns', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 20 })), { maxLength: 60 }),
        fc.dictionary(fc.constantFrom('1', '2', '3', '4', '5', '6'), fc.integer({ min: 0, max: 4 })),
        fc.integer({ min: 0, max: 12 }),
        (pairs, turnsByHost, count) => {
          const seen = new Set<string>()
          const peers = pairs
            .map(([host, port]) => ({ address: `10.0.0.${host}`, port }))
            .filter((p) => !seen.has(`${p.address}:${p.port}`) && seen.add(`${p.address}:${p.port}`))
          const turns = Object.fromEntries(Object.entries(turnsByHost).map(([h, n]) => [`10.0.0.${h}`, n]))
          const chosen = nextCandidates(peers, count, record(turns))
          assert.equal(chosen.length, Math.min(count, peers.length))
          assert.equal(new Set(chosen).size, chosen.length)
          const taken = new Map(Object.entries(turns))
          const left = [...peers]
          for (const p of chosen) {
            const least = Math.min(...left.map((q) => taken.get(q.address) ?? 0))
            assert.equal(taken.get(p.address) ?? 0, least)
            taken.set(p.address, (taken.get(p.address) ?? 0) + 1)
            left.splice(left.indexOf(p), 1)
          }
        },
      ),
    )
  })
})
