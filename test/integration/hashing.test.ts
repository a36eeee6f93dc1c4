import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { plainBuffer, sharedBuffer, sizeClass } from '../../src/core/buffer-pool.js'
import { HashPool, HashWorker, INLINE_HASH_BYTES } from '../../src/core/hashing.js'
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

  it('transfer copies: each job hashes its own bytes, the copy comes back to the pool once, the caller keeps its data', async () => {
    // Batches of concurrent jobs on one thread, of ordinary memory of assorted sizes: were one copy given to two
    // jobs in flight, one of them would hash the other's bytes.
    const worker = new HashWorker()
    const classes = new Set<number>() // every size class used so far: the pool keeps at most 8 of each
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 1, max: 300_000 }), { minLength: 1, maxLength: 12 }),
          async (lengths) => {
            const datas = lengths.map((n) => {
              const b = plainBuffer(n)
              b.fill(n % 251)
              b[n - 1] = n & 0xff
              return b
            })
            const want = datas.map((d) => createHash('sha256').update(d).digest('hex'))
            assert.deepEqual(await Promise.all(datas.map((d) => worker.digest(d))), want)
            for (const [i, d] of datas.entries())
              assert.equal(d.byteLength, lengths[i], 'the caller still holds its bytes')
            const { free, duplicates } = worker.transfers.audit()
            assert.equal(duplicates, 0)
            for (const n of lengths) classes.add(sizeClass(n))
            assert.ok(free >= 1 && free <= 8 * classes.size, `${free} copies kept`)
          },
        ),
        { numRuns: 40 },
      )
    } finally {
      await worker.close()
    }
  })

  it('a shared pool keeps only shared memory, a plain pool only its own transferable memory', async () => {
    const { BufferPool } = await import('../../src/core/buffer-pool.js')
    const plain = new BufferPool({ memory: 'plain' })
    const shared = new BufferPool()
    const p = plain.take(8192)
    const s = shared.take(8192)
    assert.ok(!(p.buffer instanceof SharedArrayBuffer) && p.buffer.byteLength === 8192, 'an ArrayBuffer of its own')
    assert.ok(s.buffer instanceof SharedArrayBuffer)
    plain.give(s)
    shared.give(p)
    plain.give(Buffer.allocUnsafe(100)) // a slice of Node's slab: transferring it would take its neighbours
    assert.deepEqual([plain.audit().free, shared.audit().free], [0, 0], 'the other kind is not kept')
    plain.give(p)
    shared.give(s)
    assert.equal(plain.take(8192), p)
    assert.equal(shared.take(8192), s)
  })
})
