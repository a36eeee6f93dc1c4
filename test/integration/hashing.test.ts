import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, existsSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { BufferPool, plainBuffer, sharedBuffer, sizeClass } from '../../src/core/buffer-pool.js'
import { HashPool, INLINE_HASH_BYTES } from '../../src/core/hash-pool.js'
import { HashWorker } from '../../src/core/hashing.js'
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
          assert.equal((await pool.digestAndStore(data, { fd, offset: 10 }, 'f'.repeat(64))).hex, hex, 'a wrong hash')
          assert.equal((await pool.digestAndStoreHere(data, { fd: fdHere, offset: 10 }, 'f'.repeat(64))).hex, hex)
          assert.equal(readFileSync(path).length + readFileSync(here).length, 0, 'is not written')
          assert.equal((await pool.digestAndStore(data, { fd, offset: 10 }, hex)).hex, hex)
          assert.equal((await pool.digestAndStoreHere(data, { fd: fdHere, offset: 10 }, hex)).hex, hex)
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
    const classes = new Set<number>() // every size class used so far: the pool keeps at most 4 of each
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
            assert.ok(free >= 1 && free <= 4 * classes.size, `${free} copies kept`)
          },
        ),
        { numRuns: 40 },
      )
    } finally {
      await worker.close()
    }
  })

  it('a pool keeps only its own transferable memory: never shared memory, never a slice of Node’s slab', () => {
    const pool = new BufferPool()
    const p = pool.take(8192)
    assert.ok(!(p.buffer instanceof SharedArrayBuffer) && p.buffer.byteLength === 8192, 'an ArrayBuffer of its own')
    pool.give(sharedBuffer(8192))
    pool.give(Buffer.allocUnsafe(100)) // a slice of Node's slab: transferring it would take its neighbours
    pool.give(Buffer.alloc(8192)) // memory of the right size, but not the pool's: it could not be handed over
    assert.equal(pool.audit().free, 0, 'none is kept')
    pool.give(p)
    assert.equal(pool.take(8192), p)
  })

  it('hands memory of its own over to the thread and back: no copy, the same bytes, the old view empty', async (t) => {
    const dir = await tmpDir(t)
    const pool = new HashPool(1)
    const size = 1024 * 1024
    const bytes = randomBytes(size)
    const hex = createHash('sha256').update(bytes).digest('hex')
    const fd = openSync(join(dir, 'out'), 'w+')
    try {
      const first = plainBuffer(size)
      bytes.copy(first)
      const once = await pool.digestAndStore(first, { fd, offset: 0 }, hex)
      assert.equal(once.hex, hex)
      assert.equal(first.byteLength, 0, 'handed over: the Buffer passed in is empty')
      assert.ok(once.data.equals(bytes), 'the same bytes come back')
      // What came back may be handed over again; a wrong hash writes nothing and still gives the bytes back.
      const twice = await pool.digestAndStore(once.data, { fd, offset: size }, 'f'.repeat(64))
      assert.equal(once.data.byteLength, 0)
      assert.ok(twice.data.equals(bytes))
      // A view at the start of such memory (a file's last chunk) comes back as the same view.
      const short = plainBuffer(2 * size).subarray(0, size)
      bytes.copy(short)
      const viewed = await pool.digestAndStore(short, { fd, offset: size }, hex)
      assert.deepEqual(
        [viewed.data.byteOffset, viewed.data.byteLength, viewed.data.buffer.byteLength],
        [0, size, 2 * size],
      )
      // A Buffer already handed over (empty) is a caller's bug: it is refused at once, and no job is left pending.
      const worker = new HashWorker()
      await assert.rejects(worker.digestAndStore(once.data, { fd, offset: size }, hex), /detached/)
      assert.equal(worker.load, 0)
      await worker.close()
      // Memory not of its own (Node's allocator) is copied, never taken.
      const ordinary = Buffer.from(bytes)
      const copied = await pool.digestAndStore(ordinary, { fd, offset: 0 }, hex)
      assert.equal(copied.data, ordinary)
      assert.ok(ordinary.equals(bytes))
    } finally {
      closeSync(fd)
    }
    assert.ok(readFileSync(join(dir, 'out')).equals(Buffer.concat([bytes, bytes])))
  })

  it('chunk buffers through the thread and back to their pool: each job its own bytes, none held twice', async (t) => {
    const dir = await tmpDir(t)
    const hashes = new HashPool(1)
    const buffers = new BufferPool({ maxPerSize: 4 })
    const fd = openSync(join(dir, 'out'), 'w+')
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ size: fc.integer({ min: 1, max: 300_000 }), right: fc.boolean() }), {
            minLength: 1,
            maxLength: 10,
          }),
          async (jobs) => {
            const results = await Promise.all(
              jobs.map(async ({ size, right }, i) => {
                const chunk = buffers.take(size)
                chunk.fill(i + 1)
                const want = createHash('sha256').update(chunk).digest('hex')
                const done = await hashes.digestAndStore(chunk, { fd, offset: 0 }, right ? want : 'f'.repeat(64))
                assert.equal(done.hex, want)
                assert.equal(done.data.byteLength, size)
                assert.ok(
                  done.data.every((b) => b === i + 1),
                  'its own bytes, not another job’s',
                )
                return done.data
              }),
            )
            for (const data of results) buffers.give(data)
            assert.equal(buffers.audit().duplicates, 0)
          },
        ),
        { numRuns: 30 },
      )
    } finally {
      closeSync(fd)
    }
  })
})

describe('hash streams and chunk files on the hash threads (hashing.ts)', () => {
  it('a stream hashes its pieces in the order given, on a thread or here, and streams at once keep apart', async () => {
    const pool = new HashPool(2)
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(4096, INLINE_HASH_BYTES + 1),
        fc.array(fc.array(fc.integer({ min: 0, max: 200_000 }), { maxLength: 8 }), { minLength: 1, maxLength: 3 }),
        async (pieceBytes, streams) => {
          const runs = streams.map((sizes) => ({
            stream: pool.stream(pieceBytes),
            pieces: sizes.map((n) => randomBytes(n)),
          }))
          // Every update in flight at once, the streams' pieces interleaved, some in shared memory.
          const updates: Promise<void>[] = []
          for (let i = 0; i < 8; i++)
            for (const { stream, pieces } of runs) {
              const piece = pieces[i]
              if (piece === undefined) continue
              const data = i % 2 === 0 ? sharedBuffer(piece.length) : Buffer.alloc(piece.length)
              piece.copy(data)
              updates.push(stream.update(data))
            }
          await Promise.all(updates)
          for (const { stream, pieces } of runs)
            assert.equal(await stream.digest(), createHash('sha256').update(Buffer.concat(pieces)).digest('hex'))
        },
      ),
      { numRuns: 30 },
    )
  })

  it("a thread closed while a new one takes the next job: the old thread's exit fails none of the new one's jobs", async () => {
    const worker = new HashWorker()
    await worker.digest(randomBytes(1024 * 1024))
    const closing = worker.close() // the old thread's exit comes after the next job has started a new one
    const bytes = randomBytes(1024 * 1024)
    const job = worker.digest(bytes)
    assert.equal(await job, createHash('sha256').update(bytes).digest('hex'))
    await closing
    assert.equal(worker.load, 0)
    assert.equal(worker.running, true)
    await worker.close()
  })

  it('a stream whose thread is gone rejects every call: no digest of part of its pieces', async () => {
    const worker = new HashWorker()
    const stream = worker.stream()
    await stream.update(randomBytes(1000))
    await worker.close()
    await assert.rejects(stream.update(randomBytes(1000)), /exited/)
    await assert.rejects(stream.digest(), /exited/)
    assert.equal(worker.load, 0)
  })

  it('a chunk file: created and written whole with its hash; a name taken or a link there refused, left as it was', async (t) => {
    const dir = await tmpDir(t)
    const pool = new HashPool(2)
    const target = join(dir, 'target')
    writeFileSync(target, 'keep')
    for (const size of [1, INLINE_HASH_BYTES, INLINE_HASH_BYTES + 1, 1024 * 1024 + 7]) {
      const bytes = randomBytes(size)
      const data = sharedBuffer(size)
      bytes.copy(data)
      const path = join(dir, `new-${size}`)
      assert.equal(await pool.digestAndCreate(data, path), createHash('sha256').update(bytes).digest('hex'))
      assert.ok(readFileSync(path).equals(bytes), `${size} bytes`)
      for (const [what, taken] of [
        ['a file', path],
        ['a link', join(dir, `link-${size}`)],
        ['a dangling link', join(dir, `dangling-${size}`)],
      ] as const) {
        if (what === 'a link') symlinkSync(target, taken)
        if (what === 'a dangling link') symlinkSync(join(dir, 'nowhere'), taken)
        await assert.rejects(pool.digestAndCreate(randomBytes(size), taken), (err: NodeJS.ErrnoException) => {
          assert.equal(err.code, 'EEXIST', `${what}, ${size} bytes`)
          return true
        })
      }
      assert.ok(readFileSync(path).equals(bytes), 'the file taken is unchanged')
      assert.equal(readFileSync(target, 'utf8'), 'keep', 'nothing written through the link')
      assert.ok(!existsSync(join(dir, 'nowhere')), 'nothing created where the dangling link points')
    }
    await assert.rejects(pool.digestAndCreate(sharedBuffer(INLINE_HASH_BYTES + 1), join(dir, 'no', 'x')), /ENOENT/)
  })
})
