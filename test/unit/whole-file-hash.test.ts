import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import { HELD_FOR_HASH_BYTES, MiB } from '../../src/core/constants.js'
import { WholeFileHash } from '../../src/core/download/whole-file-hash.js'
import type { Manifest } from '../../src/core/manifest.js'

const CHUNK = 2 * MiB
/** A chunk fewer than this many ahead of the next to hash is held (HELD_FOR_HASH_BYTES are this many chunks). */
const WINDOW = HELD_FOR_HASH_BYTES / CHUNK
const FILE = randomBytes(12 * CHUNK + 12_345)

function setup(size: number) {
  const manifest = { version: 1, name: 'f', size, chunkSize: CHUNK, chunks: [], sha256: '' } as unknown as Manifest
  const count = Math.ceil(size / CHUNK)
  const have = new Bitfield(count)
  let readBacks = 0
  const hash = new WholeFileHash(manifest, have, (into, length, position) => {
    readBacks++
    FILE.copy(into, 0, position, position + length)
  })
  const chunk = (i: number) => Buffer.from(FILE.subarray(i * CHUNK, Math.min(size, (i + 1) * CHUNK)))
  return { hash, have, count, chunk, readBacks: () => readBacks }
}

describe('the whole-file hash (whole-file-hash.ts)', () => {
  it('holds a chunk whose turn is near until then; releases one far ahead at once and reads it back in its turn', async () => {
    const { hash, have, chunk, readBacks } = setup(12 * CHUNK)
    const released: number[] = []
    const add = (i: number) => {
      have.set(i)
      hash.add(i, chunk(i), () => released.push(i))
    }
    add(WINDOW - 1) // less than HELD_FOR_HASH_BYTES ahead: held
    add(WINDOW) // that far or further: released, read back later
    assert.deepEqual(released, [WINDOW])
    for (let i = 0; i < 12; i++) {
      if (!have.get(i)) add(i)
      await hash.settled() // as between arrivals: the catch-up has run
    }
    assert.equal(hash.missing, 0)
    assert.equal(
      hash.digest(),
      createHash('sha256')
        .update(FILE.subarray(0, 12 * CHUNK))
        .digest('hex'),
    )
    assert.deepEqual(
      [...released].sort((a, b) => a - b),
      Array.from({ length: 12 }, (_, i) => i),
    )
    assert.equal(readBacks(), 1, 'only the far chunk was read back')
  })

  it('property: in any order the hash is the file’s; every buffer released exactly once; never more than HELD_FOR_HASH_BYTES held', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: FILE.length }), fc.nat(), async (size, seed) => {
        const { hash, have, count, chunk } = setup(size)
        const order = fc.sample(fc.shuffledSubarray([...Array(count).keys()], { minLength: count }), {
          numRuns: 1,
          seed,
        })[0]!
        const releases = new Array<number>(count).fill(0)
        let held = 0
        for (const i of order) {
          have.set(i)
          held++
          hash.add(i, chunk(i), () => {
            releases[i]!++
            held--
          })
          assert.ok(held * CHUNK <= HELD_FOR_HASH_BYTES, `${held} buffers held`)
          if (i % 3 === 0) await hash.settled()
        }
        await hash.settled()
        assert.deepEqual(releases, new Array<number>(count).fill(1))
        assert.equal(hash.digest(), createHash('sha256').update(FILE.subarray(0, size)).digest('hex'))
      }),
      { numRuns: 40 },
    )
  })
})
