import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { settled } from '../../src/core/transfer/checked-stamps.js'

const MS = 1_000_000n
const MiB = 1024n * 1024n

describe('when a chunk file has settled since its last change (checked-stamps.ts)', () => {
  it('not within a tick of its ctime, nor while one write of the whole file may still be copying (at 64 MiB/s, at most 2 GiB)', () => {
    const ctime = 1_700_000_000_123_456_789n
    const at = (ms: number): number => Number(ctime / MS) + ms
    assert.equal(settled(ctime, 4096n, at(10)), false, 'within the tick')
    assert.equal(settled(ctime, 4096n, at(25)), true)
    assert.equal(settled(ctime, 64n * MiB, at(213)), false, 'a 64 MiB pwrite took 137–213 ms (the attack)')
    assert.equal(settled(ctime, 64n * MiB, at(1100)), true)
    assert.equal(settled(ctime, 1024n * MiB, at(3300)), false, 'a 1 GiB pwrite took 3.3 s')
    assert.equal(settled(ctime, 1024n * MiB, at(16_100)), true)
    assert.equal(settled(ctime, 1n << 40n, at(33_000)), true, 'one write copies at most 2 GiB')
    const whole = 1_700_000_000_000_000_000n
    assert.equal(settled(whole, 4096n, Number(whole / MS) + 2000), false, 'whole-second times: 3 s')
  })

  it('property: later is never less settled, a larger file never more', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 1n << 62n }),
        fc.bigInt({ min: 0n, max: 1n << 42n }),
        fc.bigInt({ min: 0n, max: 1n << 42n }),
        fc.integer({ min: 0, max: 60_000 }),
        fc.integer({ min: 0, max: 60_000 }),
        (ctime, a, b, early, more) => {
          const [small, large] = a < b ? [a, b] : [b, a]
          const read = Number(ctime / MS) + early
          if (settled(ctime, large, read)) assert.ok(settled(ctime, small, read))
          if (settled(ctime, small, read)) assert.ok(settled(ctime, small, read + more))
        },
      ),
      { numRuns: 500 },
    )
  })
})
