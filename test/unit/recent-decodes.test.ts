import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { RecentDecodes } from '../../src/core/discovery/recent-decodes.js'

/** A decode that says which bytes it saw: a reused value for other bytes would show. */
const decode = (bytes: Uint8Array): { hex: string } => ({ hex: Buffer.from(bytes).toString('hex') })

describe('recent-decodes: a decode reused only for the same bytes', () => {
  it('property: what comes back is always what decoding these bytes gives, with at most `size` kept', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        // Few distinct datagrams, of equal lengths and one byte apart, so that repeats and near misses are common.
        fc.array(fc.tuple(fc.nat(3), fc.nat(2), fc.boolean()), { maxLength: 60 }),
        (size, sends) => {
          const recent = new RecentDecodes<{ hex: string }>(size)
          let reused = 0
          for (const [a, b, mutate] of sends) {
            const bytes = Buffer.from([a, b, 7, 7])
            const hit = recent.get(bytes)
            if (hit) reused++
            const value = hit ?? recent.put(bytes, decode(bytes))
            assert.deepEqual(value, decode(bytes))
            // The datagram's buffer changed afterwards (a reused receive buffer): the kept copy is not.
            if (mutate) bytes[0] = 99
          }
          assert.ok((recent as unknown as { entries: unknown[] }).entries.length <= size)
          return reused <= sends.length
        },
      ),
      { numRuns: 500 },
    )
  })

  it('keeps the last `size` datagrams: an older one is decoded again', () => {
    const recent = new RecentDecodes<{ hex: string }>(2)
    for (const n of [1, 2, 3]) recent.put(Buffer.from([n]), decode(Buffer.from([n])))
    assert.equal(recent.get(Buffer.from([1])), undefined)
    assert.deepEqual(recent.get(Buffer.from([2])), { hex: '02' })
    assert.deepEqual(recent.get(Buffer.from([3])), { hex: '03' })
  })
})
