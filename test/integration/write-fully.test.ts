import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fs, { closeSync, openSync, readFileSync } from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { writeNewFile } from '../../src/core/disk.js'
import { BUFFERED_WRITE_BYTES, writeFully, writeFullySync } from '../../src/core/write-fully.js'
import { tmpDir } from '../helpers/files.js'

const realWrite = fs.write
const realWriteSync = fs.writeSync

/** The lengths of every write made while `run` runs (both fs.write and fs.writeSync). */
async function watchWrites(run: () => Promise<void>): Promise<number[]> {
  const lengths: number[] = []
  fs.writeSync = ((fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => {
    lengths.push(length)
    return realWriteSync(fd, buffer, offset, length, position)
  }) as typeof fs.writeSync
  fs.write = ((...args: unknown[]) => {
    lengths.push(args[3] as number)
    return (realWrite as (...a: unknown[]) => void)(...args)
  }) as typeof fs.write
  syncBuiltinESMExports()
  try {
    await run()
  } finally {
    fs.writeSync = realWriteSync
    fs.write = realWrite
    syncBuiltinESMExports()
  }
  return lengths
}

describe('buffered writes in pieces of at most BUFFERED_WRITE_BYTES (write-fully.ts)', () => {
  it('writes every byte at its position, no write larger than the cap, sync and async, and a new file', async (t) => {
    const dir = await tmpDir(t)
    let n = 0
    const cap = BUFFERED_WRITE_BYTES
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constantFrom(0, 1, cap - 1, cap, cap + 1, 4 * cap, 4 * cap + 3), fc.nat({ max: 5 * cap })),
        fc.nat({ max: 3 * cap }),
        fc.constantFrom('sync', 'async', 'new file'),
        async (size, position, how) => {
          const data = randomBytes(size)
          const path = join(dir, `f${n++}`)
          const lengths = await watchWrites(async () => {
            if (how === 'new file') return writeNewFile(path, data)
            const fd = openSync(path, 'wx')
            try {
              if (how === 'sync') writeFullySync(fd, data, position)
              else await writeFully(fd, data, position)
            } finally {
              closeSync(fd)
            }
          })
          const at = how === 'new file' ? 0 : position
          const got = readFileSync(path)
          assert.equal(got.length, size === 0 ? 0 : at + size)
          assert.ok(got.subarray(at).equals(data), 'every byte at its place')
          assert.ok(
            lengths.every((l) => l <= cap),
            `no write over ${cap} bytes: ${lengths}`,
          )
          assert.equal(
            lengths.reduce((a, b) => a + b, 0),
            size,
          )
        },
      ),
      { numRuns: 60 },
    )
  })

  it('lets a direct write (its own pieces) go whole', async (t) => {
    const dir = await tmpDir(t)
    const fd = openSync(join(dir, 'd'), 'wx')
    t.after(() => closeSync(fd))
    const data = randomBytes(4 * BUFFERED_WRITE_BYTES)
    const lengths = await watchWrites(async () => writeFullySync(fd, data, 0, data.length))
    assert.deepEqual(lengths, [data.length])
  })
})
