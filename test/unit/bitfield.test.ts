import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'

/** The reference: a plain array of booleans, one per bit. */
const reference = (b: Bitfield): boolean[] => Array.from({ length: b.length }, (_, i) => b.get(i))

/** A field of `length` bits with a clean tail, from arbitrary bytes. */
const arbField = (maxLength = 300): fc.Arbitrary<{ length: number; bytes: Uint8Array }> =>
  fc.integer({ min: 0, max: maxLength }).chain((length) =>
    fc.uint8Array({ minLength: Math.ceil(length / 8), maxLength: Math.ceil(length / 8) }).map((bytes) => {
      if (length % 8 !== 0) bytes[bytes.length - 1]! &= (0xff00 >> (length % 8)) & 0xff
      return { length, bytes }
    }),
  )

describe('bitfield', () => {
  it('is MSB-first: bit 0 is 0x80 of byte 0', () => {
    const b = new Bitfield(10)
    b.set(0)
    b.set(9)
    assert.deepEqual([...b.bytes], [0x80, 0x40])
    assert.equal(b.toBase64(), Buffer.from([0x80, 0x40]).toString('base64'))
  })

  it('counts changes: a set or slice that changes a bit moves the count, one that changes nothing does not', () => {
    const b = new Bitfield(20)
    b.set(3)
    assert.equal(b.changes, 1)
    b.set(3)
    assert.equal(b.changes, 1, 'already set')
    b.set(3, false)
    assert.equal(b.changes, 2)
    assert.equal(b.setBytes(1, new Uint8Array([0xff])), true)
    assert.equal(b.changes, 3)
    assert.equal(b.setBytes(1, new Uint8Array([0xff])), false)
    assert.equal(b.changes, 3)
    const full = Bitfield.full(9)
    full.set(8)
    assert.equal(full.changes, 0, 'a full field stays full')
    full.set(8, false)
    assert.equal(full.changes, 1)
  })

  it('round-trips through base64 and keeps a clean tail', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 0, max: 300 })
          .chain((n) =>
            fc.tuple(fc.constant(n), fc.uniqueArray(fc.nat({ max: Math.max(0, n - 1) }), { maxLength: n })),
          ),
        ([n, set]) => {
          const b = new Bitfield(n)
          for (const i of set) if (i < n) b.set(i)
          const back = Bitfield.fromBase64(n, b.toBase64())
          assert.deepEqual(back.indices(), b.indices())
          assert.ok(back.hasCleanTail())
          assert.equal(back.count(), new Set(set.filter((i) => i < n)).size)
        },
      ),
    )
  })

  it('detects stray bits past the length', () => {
    assert.equal(new Bitfield(3, new Uint8Array([0xff])).hasCleanTail(), false)
    assert.equal(Bitfield.full(3).hasCleanTail(), true)
  })

  it('property: count, isComplete and indices agree with a bit-by-bit reference', () => {
    fc.assert(
      fc.property(arbField(), ({ length, bytes }) => {
        const b = new Bitfield(length, bytes)
        const bits = reference(b)
        assert.equal(b.count(), bits.filter(Boolean).length)
        assert.equal(b.isComplete(), bits.every(Boolean))
        assert.deepEqual(
          b.indices(),
          bits.flatMap((v, i) => (v ? [i] : [])),
        )
      }),
    )
  })

  it('property: full(n) is every bit set, holds no bytes until one is cleared, and then behaves like a dense field', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.array(fc.nat(), { maxLength: 5 }), (length, clears) => {
        const full = Bitfield.full(length)
        assert.equal(full.heldBytes, 0)
        assert.equal(full.count(), length)
        assert.ok(full.isComplete())
        assert.deepEqual(
          full.indices(),
          Array.from({ length }, (_, i) => i),
        )
        if (length > 0) full.set(0, true) // setting a set bit stores nothing
        assert.equal(full.heldBytes, 0)
        const dense = new Bitfield(length)
        for (let i = 0; i < length; i++) dense.set(i)
        assert.deepEqual(
          [...full.bytes],
          [...dense.bytes],
          'materialised bytes are the dense ones, clean tail included',
        )
        for (const c of clears)
          if (length > 0) {
            full.set(c % length, false)
            dense.set(c % length, false)
          }
        assert.deepEqual(reference(full), reference(dense))
        assert.equal(full.count(), dense.count())
      }),
    )
  })

  // A slice's write, either way: `set` overwrites the slice's bits (setBytes), `add` sets them and clears none (addBytes).
  for (const mode of ['set', 'add'] as const)
    it(`property: ${mode}Bytes ${mode === 'set' ? 'overwrites exactly' : 'sets, clearing none of,'} the bits of its slice and says whether any changed`, () => {
      fc.assert(
        fc.property(
          arbField(400),
          fc.boolean(),
          fc.nat(),
          fc.uint8Array({ maxLength: 60 }),
          ({ length, bytes }, startFull, at, slice) => {
            const b = startFull ? Bitfield.full(length) : new Bitfield(length, bytes)
            const size = Math.ceil(length / 8)
            if (size === 0) return
            const from = at % size
            const piece = slice.subarray(0, size - from)
            if (from + piece.length === size && length % 8 !== 0 && piece.length > 0)
              piece[piece.length - 1]! &= (0xff00 >> (length % 8)) & 0xff
            const before = reference(b)
            const inSlice = (i: number): boolean => i >= from * 8 && i < (from + piece.length) * 8
            const sliceBit = (i: number): boolean => (piece[(i >> 3) - from]! & (0x80 >> (i & 7))) !== 0
            const expected = before.map((v, i) => (inSlice(i) ? (mode === 'add' && v) || sliceBit(i) : v))
            const changes = b.changes
            const changed = mode === 'set' ? b.setBytes(from, piece) : b.addBytes(from, piece)
            assert.deepEqual(reference(b), expected)
            assert.equal(
              changed,
              expected.some((v, i) => v !== before[i]),
            )
            assert.equal(b.changes, changes + (changed ? 1 : 0))
            assert.ok(b.hasCleanTail())
          },
        ),
      )
    })

  it('addBytes refuses a slice outside the field or past its last bit, as setBytes does', () => {
    assert.throws(() => new Bitfield(12).addBytes(1, new Uint8Array([0x01])), RangeError, 'past its last bit')
    assert.throws(() => new Bitfield(16).addBytes(1, new Uint8Array(2)), RangeError, 'outside the field')
  })

  it('property: add sets exactly the union, says whether a bit changed, and a copy is a field of its own', () => {
    fc.assert(
      fc.property(
        arbField().chain(({ length, bytes }) =>
          fc.record({
            a: fc.constant({ length, bytes }),
            b: arbField(length).filter((f) => f.length === length),
            fullA: fc.boolean(),
            fullB: fc.boolean(),
          }),
        ),
        ({ a, b, fullA, fullB }) => {
          const into = fullA ? Bitfield.full(a.length) : new Bitfield(a.length, a.bytes.slice())
          const other = fullB ? Bitfield.full(b.length) : new Bitfield(b.length, b.bytes.slice())
          const before = reference(into)
          const copy = into.copy()
          const changes = into.changes
          const changed = into.add(other)
          const union = before.map((v, i) => v || other.get(i))
          assert.deepEqual(reference(into), union)
          assert.equal(
            changed,
            union.some((v, i) => v !== before[i]),
          )
          assert.equal(into.changes, changes + (changed ? 1 : 0))
          assert.deepEqual(reference(copy), before, 'the copy kept the bits it was made with')
          assert.ok(into.hasCleanTail())
        },
      ),
    )
    assert.throws(() => new Bitfield(8).add(new Bitfield(9)), RangeError)
  })

  it('setBytes refuses a slice outside the field or past its last bit', () => {
    assert.throws(() => new Bitfield(16).setBytes(1, new Uint8Array(2)), RangeError)
    assert.throws(() => new Bitfield(12).setBytes(1, new Uint8Array([0x01])), RangeError)
    assert.equal(new Bitfield(12).setBytes(1, new Uint8Array([0xf0])), true)
  })

  it('works byte-wise on 2^24 chunks: count, isComplete, a slice and full() in well under a second', () => {
    const n = 1 << 24
    const started = process.cpuUsage()
    const b = new Bitfield(n)
    b.setBytes(n / 8 - 4, new Uint8Array([0xff, 0x0f, 0xf0, 0x01]))
    assert.equal(b.count(), 8 + 4 + 4 + 1)
    assert.equal(b.isComplete(), false)
    assert.equal(Bitfield.full(n).count(), n)
    assert.ok(Bitfield.full(n).isComplete())
    assert.equal(b.indices().length, 17)
    const { user, system } = process.cpuUsage(started)
    assert.ok((user + system) / 1000 < 500, `${(user + system) / 1000} ms of CPU`)
  })
})
