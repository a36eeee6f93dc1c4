import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { BoundedMap } from '../../src/core/bounded-map.js'

describe('BoundedMap', () => {
  it('holds at most max entries: the oldest set goes first, a key set again moves up without evicting another, deletes free a place', () => {
    const op = fc.record({ del: fc.boolean(), key: fc.nat(12) })
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { maxLength: 100, size: 'large' }), (max, ops) => {
        const map = new BoundedMap<number, number>(max)
        const order: number[] = [] // our model: keys by when they were last set, oldest first
        ops.forEach(({ del, key }, i) => {
          const at = order.indexOf(key)
          if (del) {
            assert.equal(map.delete(key), at >= 0)
            if (at >= 0) order.splice(at, 1)
          } else {
            map.set(key, i)
            if (at >= 0) order.splice(at, 1)
            else if (order.length >= max) order.shift()
            order.push(key)
            assert.equal(map.get(key), i)
          }
          assert.deepEqual(
            [...map].map(([k]) => k),
            order,
          )
          assert.equal(map.size, order.length)
        })
      }),
    )
  })
})
