import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import { MiB } from '../../src/core/constants.js'
import { HOLD_AHEAD_BYTES, WholeFileHash } from '../../src/core/download/whole-file-hash.js'
import type { Manifest } from '../../src/core/manifest.js'

/** A quarter of the 1 MiB read-back buffer: a run of up to four written chunks is read back at once. */
const CHUNK = MiB / 4
const FILE = randomBytes(20 * CHUNK + 12_345) // past HOLD_AHEAD_BYTES at a quarter MiB a chunk

function setup(size: number, chunkSize = CHUNK, holding: () => boolean = () => false) {
  const manifest = { version: 1, name: 'f', size, chunkSize, chunks: [], sha256: '' } as unknown as Manifest
  const count = Math.ceil(size / chunkSize)
  const have = new Bitfield(count)
  const readBacks: [position: number, length: number][] = []
  const hash = new WholeFileHash(
    manifest,
    have,
    (into, length, position) => {
      for (let i = Math.floor(position / chunkSize); i * chunkSize < position + length; i++)
        assert.ok(have.get(i), `chunk ${i} read back before it was written`)
      readBacks.push([position, length])
      FILE.copy(into, 0, position, position + length)
    },
    holding,
  )
  /** Chunk `i` marked written and handed over in a buffer that is overwritten as soon as `add` returns (reused). */
  const add = (i: number) => {
    have.set(i)
    const buffer = Buffer.from(FILE.subarray(i * chunkSize, Math.min(size, (i + 1) * chunkSize)))
    hash.add(i, buffer)
    buffer.fill(0xee)
  }
  const expected = createHash('sha256').update(FILE.subarray(0, size)).digest('hex')
  return { hash, count, add, readBacks, expected }
}

/** Chunk sizes the property draws: runs of several in one read, one chunk per read, a chunk in pieces. */
const CHUNK_SIZES = [64 * 1024, CHUNK, MiB, (3 * MiB) / 2]

describe('the whole-file hash (whole-file-hash.ts)', () => {
  it('hashes a chunk in its turn from its buffer; ones ahead of their turn are read back in their turn, neighbours in one read', async () => {
    const { hash, add, readBacks, expected } = setup(12 * CHUNK)
    add(0) // its turn: from the buffer
    add(2) // ahead: not kept (its buffer is overwritten at once)
    add(3)
    await hash.settled()
    assert.deepEqual(readBacks, [], 'nothing is read back before its turn')
    add(1)
    await hash.settled()
    assert.deepEqual(readBacks, [[2 * CHUNK, 2 * CHUNK]], 'chunks 2 and 3 in one read')
    for (let i = 4; i < 12; i++) add(i)
    await hash.settled()
    assert.equal(hash.missing, 0)
    assert.equal(hash.digest(), expected)
    assert.equal(readBacks.length, 1, 'chunks in their turn are not read back')
  })

  it('a late first chunk: the rest is read back in runs of at most 1 MiB, the short last chunk included', async () => {
    const size = 12 * CHUNK + 12_345
    const { hash, add, readBacks, expected } = setup(size)
    for (let i = 12; i >= 0; i--) add(i)
    await hash.settled()
    assert.equal(hash.digest(), expected)
    assert.deepEqual(readBacks, [
      [1 * CHUNK, 4 * CHUNK],
      [5 * CHUNK, 4 * CHUNK],
      [9 * CHUNK, 3 * CHUNK + 12_345],
    ])
  })

  it('held: a chunk less than HOLD_AHEAD_BYTES ahead is copied and hashed in its turn, farther ones read back', async () => {
    const { hash, add, readBacks, expected } = setup(20 * CHUNK, CHUNK, () => true)
    const within = HOLD_AHEAD_BYTES / CHUNK - 1 // the farthest chunk held
    add(within)
    add(within + 1) // HOLD_AHEAD_BYTES ahead: read back in its turn
    assert.equal(hash.heldBytes, CHUNK, 'one copy held')
    for (let i = 0; i < within; i++) add(i)
    await hash.settled()
    assert.deepEqual(readBacks, [[(within + 1) * CHUNK, CHUNK]], 'only the far chunk is read back')
    assert.equal(hash.heldBytes, 0, 'the copy was hashed in its turn')
    for (let i = within + 2; i < 20; i++) add(i)
    await hash.settled()
    assert.equal(hash.digest(), expected)
  })

  it('property: in any order, holding switched on and off, buffers reused as soon as add returns: the hash is the file’s, at most HOLD_AHEAD_BYTES held, no byte read back twice', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: FILE.length }),
        fc.constantFrom(...CHUNK_SIZES),
        fc.nat(),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
        async (size, chunkSize, seed, switches) => {
          let turn = 0
          const holding = () => switches[turn++ % switches.length]!
          const { hash, count, add, readBacks, expected } = setup(size, chunkSize, holding)
          const order = fc.sample(fc.shuffledSubarray([...Array(count).keys()], { minLength: count }), {
            numRuns: 1,
            seed,
          })[0]!
          for (const i of order) {
            add(i)
            assert.ok(hash.heldBytes <= HOLD_AHEAD_BYTES, `${hash.heldBytes} bytes held`)
            if (i % 3 === 0) await hash.settled()
          }
          await hash.settled()
          assert.equal(hash.missing, 0)
          assert.equal(hash.heldBytes, 0, 'every copy hashed')
          assert.equal(hash.digest(), expected)
          let covered = 0
          for (const [position, length] of readBacks.sort((a, b) => a[0] - b[0])) {
            assert.ok(position >= covered, 'no byte read back twice')
            assert.ok(length <= MiB, 'at most 1 MiB at once')
            covered = position + length
          }
          assert.ok(covered <= size)
        },
      ),
      { numRuns: 100 },
    )
  })
})
