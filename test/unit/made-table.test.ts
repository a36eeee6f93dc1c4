import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { MadeTable } from '../../src/core/download/made-table.js'

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
const entry = fc.record({
  dir: fc.boolean(),
  dev: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 20n }), int64),
  // Neighbouring inodes above 2^53 (overlayfs with xino) as often as small ones.
  ino: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 32n }), fc.bigInt({ min: -(2n ** 63n), max: -(2n ** 62n) }), int64),
  size: fc.nat(),
  sha256: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }),
})

describe('the made table of a temporary tree', () => {
  it('property: every entry keeps its exact device and inode (no neighbour matches it), kind and check, across growth', () => {
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 700 }), (entries) => {
        const made = new MadeTable()
        for (const [i, e] of entries.entries())
          made.add(`p${i}`, e.dir, { dev: e.dev, ino: e.ino }, { size: e.size, sha256: e.sha256 })
        assert.equal(made.count, entries.length)
        for (const [i, e] of entries.entries()) {
          const slot = made.slotOf(`p${i}`)!
          assert.equal(made.local(slot), `p${i}`)
          assert.ok(made.holds(slot, { dev: e.dev, ino: e.ino }))
          assert.ok(!made.holds(slot, { dev: e.dev, ino: BigInt.asIntN(64, e.ino + 1n) }), 'the next inode')
          assert.ok(!made.holds(slot, { dev: BigInt.asIntN(64, e.dev + 1n), ino: e.ino }), 'another device')
          assert.equal(made.isDir(slot), e.dir)
          assert.deepEqual(made.check(slot), e.dir ? undefined : { size: e.size, sha256: e.sha256 })
        }
      }),
      { numRuns: 60 },
    )
  })

  it('a second record of one path replaces the first', () => {
    const made = new MadeTable()
    made.add('a', true, { dev: 1n, ino: 2n })
    made.add('a', false, { dev: 1n, ino: 3n }, { size: 5, sha256: 'ab' })
    assert.equal(made.count, 1)
    assert.ok(made.holds(0, { dev: 1n, ino: 3n }))
    assert.ok(!made.holds(0, { dev: 1n, ino: 2n }))
    assert.deepEqual(made.check(0), { size: 5, sha256: 'ab' })
  })
})
