import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { setBounded } from '../../src/core/bounded-map.js'

describe('setBounded', () => {
  it('holds at most max entries: the newest kept, the oldest set going first, a key set again moving up without evicting another', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.nat(12), { maxLength: 100 }), (max, sets) => {
        const map = new Map<number, number>()
        const order: number[] = [] // our model: keys by when they were last set, oldest first
        sets.forEach((key, i) => {
          setBounded(map, key, i, max)
          const at = order.indexOf(key)
          if (at >= 0) order.splice(at, 1)
          else if (order.length >= max) order.shift()
          order.push(key)
          assert.deepEqual([...map.keys()], order)
          assert.equal(map.get(key), i)
        })
      }),
    )
  })
})
