import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import type { LivePeer } from '../../src/core/download/job.js'
import { onePathPerPeer } from '../../src/core/download/peer-paths.js'

const path = (address: string, peerId?: string, transport?: 'noise'): LivePeer => ({
  address,
  port: 47010,
  have: Bitfield.full(4),
  ...(peerId ? { peerId } : {}),
  ...(transport ? { transport } : {}),
})
const keyOf = (p: LivePeer): string => `${p.address}:${p.port}`
const fresh = { usable: () => true, proven: () => false, misses: () => 0, inUse: () => false }

describe('one path per peer', () => {
  it('fetches from one address of a peer heard at several (IPv4 broadcast and IPv6 link-local), the first listed', () => {
    const v4 = path('10.0.0.1', 'SEEDER', 'noise')
    const v6 = path('fe80::1%eth0', 'SEEDER', 'noise')
    const other = path('10.0.0.2', 'OTHER', 'noise')
    assert.deepEqual(onePathPerPeer([v4, v6, other], keyOf, fresh), [v4, other])
  })

  it('keeps every plain path and every path without a peer id: their ids are bare claims', () => {
    const a = path('10.0.0.1', 'SEEDER')
    const b = path('10.0.0.9', 'SEEDER')
    const c = path('10.0.0.3')
    assert.deepEqual(onePathPerPeer([a, b, c], keyOf, fresh), [a, b, c])
  })

  it('moves to another path when the one tried failed (a stranger claiming the id fails the handshake), and keeps a proven one', () => {
    const stranger = path('10.0.0.66', 'SEEDER', 'noise')
    const real = path('10.0.0.1', 'SEEDER', 'noise')
    const missed = { ...fresh, misses: (k: string) => (k === keyOf(stranger) ? 1 : 0) }
    assert.deepEqual(onePathPerPeer([stranger, real], keyOf, missed), [real])
    const provenReal = {
      ...fresh,
      proven: (k: string) => k === keyOf(real),
      misses: (k: string) => (k === keyOf(real) ? 2 : 0),
    }
    assert.deepEqual(onePathPerPeer([stranger, real], keyOf, provenReal), [real])
  })

  it('prefers a usable path to a proven one that is banned or backing off (a broken path that still announces)', () => {
    const v4 = path('10.0.0.1', 'SEEDER', 'noise')
    const v6 = path('fe80::1%eth0', 'SEEDER', 'noise')
    const record = { ...fresh, usable: (k: string) => k === keyOf(v6), proven: (k: string) => k === keyOf(v4) }
    assert.deepEqual(onePathPerPeer([v4, v6], keyOf, record), [v6])
  })

  it('keeps the path in use over an equal one listed first (paths taking turns ask a busy host twice and drop what is in flight)', () => {
    const v4 = path('10.0.0.1', 'SEEDER', 'noise')
    const v6 = path('fe80::1%eth0', 'SEEDER', 'noise')
    const v6InUse = { ...fresh, inUse: (k: string) => k === keyOf(v6) }
    assert.deepEqual(onePathPerPeer([v4, v6], keyOf, v6InUse), [v6])
    assert.deepEqual(onePathPerPeer([v6, v4], keyOf, v6InUse), [v6])
    // …but not over one that has proved itself, or one with fewer misses.
    assert.deepEqual(onePathPerPeer([v4, v6], keyOf, { ...v6InUse, proven: (k: string) => k === keyOf(v4) }), [v4])
    assert.deepEqual(
      onePathPerPeer([v4, v6], keyOf, { ...v6InUse, misses: (k: string) => (k === keyOf(v6) ? 1 : 0) }),
      [v4],
    )
  })

  it('property: one path per encrypted peer id, every other path kept, nothing invented', () => {
    const arbPath = fc.record({
      address: fc.constantFrom('10.0.0.1', '10.0.0.2', 'fe80::1%eth0', 'dht:AAAA', '127.0.0.1'),
      peerId: fc.option(fc.constantFrom('A', 'B', 'C'), { nil: undefined }),
      noise: fc.boolean(),
      misses: fc.nat(3),
      proven: fc.boolean(),
      usable: fc.boolean(),
      inUse: fc.boolean(),
    })
    fc.assert(
      fc.property(fc.array(arbPath, { maxLength: 12 }), (specs) => {
        const listed = specs.map((s, i) => path(`${s.address}#${i}`, s.peerId, s.noise ? 'noise' : undefined))
        const byKey = new Map(listed.map((p, i) => [keyOf(p), specs[i]!]))
        const out = onePathPerPeer(listed, keyOf, {
          usable: (k) => byKey.get(k)!.usable,
          proven: (k) => byKey.get(k)!.proven,
          misses: (k) => byKey.get(k)!.misses,
          inUse: (k) => byKey.get(k)!.inUse,
        })
        for (const p of out) assert.ok(listed.includes(p))
        const merged = listed.filter((p) => p.transport === 'noise' && p.peerId !== undefined)
        const ids = new Set(merged.map((p) => p.peerId))
        assert.equal(out.filter((p) => merged.includes(p)).length, ids.size)
        for (const p of listed) if (!merged.includes(p)) assert.ok(out.includes(p))
        // the chosen path of an id: no other path of that id is proven when it is not, or has fewer misses at equal proof
        for (const chosen of out.filter((p) => merged.includes(p))) {
          const c = byKey.get(keyOf(chosen))!
          for (const other of merged.filter((p) => p.peerId === chosen.peerId)) {
            const o = byKey.get(keyOf(other))!
            assert.ok(c.usable || !o.usable)
            if (c.usable !== o.usable) continue
            assert.ok(c.proven || !o.proven)
            if (c.proven !== o.proven) continue
            assert.ok(c.misses <= o.misses)
            if (c.misses === o.misses) assert.ok(c.inUse || !o.inUse)
          }
        }
      }),
    )
  })
})
