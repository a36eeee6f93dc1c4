import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { LruMap } from '../../src/core/lru-map.js'

describe('LruMap', () => {
  it('property: agrees with a reference list under any touches, deletes and oldest-evictions, including deletes while iterating', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('touch' as const), key: fc.integer({ min: 0, max: 9 }), value: fc.integer() }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 9 }) }),
      fc.record({ kind: fc.constant('evict' as const) }),
      fc.record({ kind: fc.constant('sweep' as const), below: fc.integer() }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const lru = new LruMap<number, number>()
        let ref: Array<[number, number]> = [] // oldest first
        for (const o of ops) {
          if (o.kind === 'touch') {
            lru.touch(o.key, o.value)
            ref = [...ref.filter(([k]) => k !== o.key), [o.key, o.value]]
          } else if (o.kind === 'delete') {
            assert.equal(
              lru.delete(o.key),
              ref.some(([k]) => k === o.key),
            )
            ref = ref.filter(([k]) => k !== o.key)
          } else if (o.kind === 'evict') {
            lru.deleteOldest()
            ref = ref.slice(1)
          } else {
            for (const [k, v] of lru.entries()) if (v < o.below) lru.delete(k) // as expiry does
            ref = ref.filter(([, v]) => v >= o.below)
          }
          assert.deepEqual([...lru.entries()], ref)
          assert.equal(lru.size, ref.length)
          assert.equal(lru.oldest(), ref[0]?.[1])
        }
      }),
    )
  })
})
