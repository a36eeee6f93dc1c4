import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { GonePeers, MAX_GONE } from '../../src/core/download/gone-peers.js'
import type { PeerRecord } from '../../src/core/download/peer-record.js'

describe('the records of peers gone (gone-peers.ts)', () => {
  it('property: a record that gave bytes or was banned is never forgotten; the others only past MAX_GONE, the longest gone first', () => {
    const record = fc.record({
      bytes: fc.constantFrom(0, 0, 0, 1000),
      banned: fc.constantFrom(undefined, undefined, 'lied'),
    })
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(2 * MAX_GONE), record), { maxLength: 3 * MAX_GONE }), (events) => {
        const gone = new GonePeers()
        const kept = new Map<string, { bytes: number; banned: string | undefined }>()
        for (const [n, r] of events) {
          const key = `10.0.0.1:${n}`
          gone.delete(key)
          kept.delete(key)
          gone.keep(key, r as unknown as PeerRecord)
          kept.set(key, r)
          if (kept.size > MAX_GONE) {
            const oldest = [...kept].find(([, k]) => k.bytes === 0 && k.banned === undefined)
            if (oldest) kept.delete(oldest[0])
          }
        }
        assert.deepEqual([...gone.values()], [...kept.values()])
        const worth = [...kept.values()].filter((k) => k.bytes > 0 || k.banned !== undefined).length
        assert.ok([...gone.values()].length <= Math.max(MAX_GONE, worth))
      }),
      { numRuns: 100 },
    )
  })
})
