import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'

describe('bitfield', () => {
  it('is MSB-first: bit 0 is 0x80 of byte 0', () => {
    const b = new Bitfield(10)
    b.set(0)
    b.set(9)
    assert.deepEqual([...b.bytes], [0x80, 0x40])
    assert.equal(b.toBase64(), Buffer.from([0x80, 0x40]).toString('base64'))
  })

  it('round-trips through base64 and keeps a clean tail', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 300 }).chain((n) => fc.tuple(fc.constant(n), fc.uniqueArray(fc.nat({ max: Math.max(0, n - 1) }), { maxLength: n }))), ([n, set]) => {
      const b = new Bitfield(n)
      for (const i of set) if (i < n) b.set(i)
      const back = Bitfield.fromBase64(n, b.toBase64())
      assert.deepEqual(back.indices(), b.indices())
      assert.ok(back.hasCleanTail())
      assert.equal(back.count(), new Set(set.filter((i) => i < n)).size)
    }))
  })

  it('detects stray bits past the length', () => {
    assert.equal(new Bitfield(3, new Uint8Array([0xff])).hasCleanTail(), false)
    assert.equal(Bitfield.full(3).hasCleanTail(), true)
  })
})
