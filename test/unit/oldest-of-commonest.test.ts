import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { oldestOfCommonest } from '../../src/core/discovery/claims.js'
import { LruMap } from '../../src/core/lru-map.js'

/** Who gives way when a file's claims are full (claims.ts): the oldest claim of the address making the most. */
describe('oldestOfCommonest', () => {
  it('is the oldest claim of the address with the most claims, the first such address among equals', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { minLength: 1, maxLength: 60 }),
        (addresses: string[]) => {
          const claims = new LruMap<string, { address: string; n: number }>()
          for (const [n, address] of addresses.entries()) claims.touch(`k${n}`, { address, n })
          // As stated, in two passes: count, then the first address (in order of first claim) with the top count.
          const counts = new Map<string, number>()
          for (const address of addresses) counts.set(address, (counts.get(address) ?? 0) + 1)
          const most = Math.max(...counts.values())
          const top = [...counts].find(([, count]) => count === most)![0]
          assert.deepEqual(oldestOfCommonest(claims, counts), { address: top, n: addresses.indexOf(top) })
        },
      ),
    )
  })
})
