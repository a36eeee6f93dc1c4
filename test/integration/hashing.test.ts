import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { HashPool, INLINE_HASH_BYTES, sharedBuffer } from '../../src/core/hashing.js'
import { tmpDir } from '../helpers/files.js'

/**
 * The hash pool on all of its paths — small jobs on the calling thread, larger ones on a
 * hash thread, or hashed here and written through libuv's pool (`digestAndStoreHere`) —
 * gives the same answers: SHA-256, a write only when it matches, fs errors with their
 * code. Real files.
 */
describe('hash pool (hashing.ts)', () => {
  const sizes = [0, 1, INLINE_HASH_BYTES - 1, INLINE_HASH_BYTES, INLINE_HASH_BYTES + 1, 1024 * 1024]

  it('digests and stores every size, in shared or ordinary memory, exactly where asked and only when right', async (t) => {
    const dir = await tmpDir(t)
    const pool = new HashPool(2)
    for (const size of sizes) {
      for (const shared of [false, true]) {
        const bytes = randomBytes(size)
        const data = shared ? sharedBuffer(size) : Buffer.alloc(size)
        bytes.copy(data)
        const hex = createHash('sha256').update(bytes).digest('hex')
        assert.equal(await pool.digest(data), hex)
        const path = join(dir, `f-${size}-${shared}`)
        const fd = openSync(path, 'w+')
        const here = join(dir, `h-${size}-${shared}`)
        const fdHere = openSync(here, 'w+')
        try {
          assert.equal(await pool.digestAndStore(data, { fd, offset: 10 }, 'f'.repeat(64)), hex, 'a wrong hash')
          assert.equal(await pool.digestAndStoreHere(data, { fd: fdHere, offset: 10 }, 'f'.repeat(64)), hex)
          assert.equal(readFileSync(path).length + readFileSync(here).length, 0, 'is not written')
          assert.equal(await pool.digestAndStore(data, { fd, offset: 10 }, hex), hex)
          assert.equal(await pool.digestAndStoreHere(data, { fd: fdHere, offset: 10 }, hex), hex)
        } finally {
          closeSync(fd)
          closeSync(fdHere)
        }
        for (const file of [path, here]) {
          const written = readFileSync(file)
          assert.equal(written.length, size === 0 ? 0 : size + 10)
          if (size > 0)
            assert.ok(written.subarray(10).equals(bytes), `${size} bytes (${shared ? 'shared' : 'ordinary'})`)
        }
      }
    }
  })

  it('a write that fails rejects with the fs error code, on every path', async (t) => {
    const dir = await tmpDir(t)
    const pool = new HashPool(1)
    for (const size of [1000, INLINE_HASH_BYTES + 1]) {
      const path = join(dir, `ro-${size}`)
      closeSync(openSync(path, 'w'))
      const fd = openSync(path, 'r') // open for reading only: a write fails with EBADF
      const data = sharedBuffer(size)
      const hex = createHash('sha256').update(data).digest('hex')
      try {
        for (const store of [pool.digestAndStore, pool.digestAndStoreHere])
          await assert.rejects(store.call(pool, data, { fd, offset: 0 }, hex), (err: NodeJS.ErrnoException) => {
            assert.equal(err.code, 'EBADF')
            return true
          })
      } finally {
        closeSync(fd)
      }
    }
  })
})
