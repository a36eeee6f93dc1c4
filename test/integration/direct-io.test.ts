import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, ftruncateSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  alignedBuffer,
  alignedLeasesOutstanding,
  type DirectTarget,
  directChunkSize,
  readChunkSync,
  reopenDirect,
  writeChunk,
  writeChunkSync,
} from '../../src/core/direct-io.js'
import { tmpDir } from '../helpers/files.js'

/**
 * Chunks written and read past the page cache (direct-io.ts) on a real file:
 * whatever the chunk size (aligned or not), the last chunk's length, the
 * order of writes and reads, the write's path (the hash thread's
 * synchronous one, libuv's pool) and the read's buffer (filled in place or
 * through a piece), the file holds and the reads return exactly the bytes a
 * plain buffered model holds, and every aligned buffer leased is given back
 * once.
 */

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const O_DIRECT_FLAG = 0o40000 // x86-64 and arm64 Linux

/** Whether `fd` was opened O_DIRECT, from the kernel's own account of it. */
function isDirect(fd: number): boolean {
  const flags = /flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1]
  return flags !== undefined && (Number.parseInt(flags, 8) & O_DIRECT_FLAG) !== 0
}

type Op = { write: boolean; index: number; sync: boolean; seed: number; inPlace: boolean }

const arbCase = fc.record({
  chunkSize: fc.constantFrom(65536, 131072, 196608, 1 << 20, (2 << 20) + 65536, 65536 + 100),
  count: fc.integer({ min: 1, max: 6 }),
  lastShort: fc.integer({ min: 0, max: 70000 }),
  ops: fc.array(
    fc.record({ write: fc.boolean(), index: fc.nat(5), sync: fc.boolean(), seed: fc.nat(255), inPlace: fc.boolean() }),
    {
      maxLength: 24,
    },
  ),
})

type Case = ReturnType<typeof caseOf>

/** The ops of `c` on a fresh file at `path`; returns the model of what the file must hold. */
async function run(path: string, direct: boolean, c: Case): Promise<Buffer> {
  const fd = openSync(path, 'w+')
  ftruncateSync(fd, c.size) // sized at open, as a download's packed `data` is
  const directFd = direct ? reopenDirect(fd, true) : undefined
  const target: DirectTarget = { fd, directFd }
  const model = Buffer.alloc(c.size)
  const written = new Set<number>()
  try {
    for (const op of c.ops) {
      const index = op.index % c.count
      const length = index === c.count - 1 ? c.size - index * c.chunkSize : c.chunkSize
      const position = index * c.chunkSize
      if (op.write) {
        const bytes = Buffer.alloc(length, op.seed)
        if (length >= 4) bytes.writeUInt32BE(op.seed * 7919 + index, 0) // chunks of one seed differ
        if (op.sync) writeChunkSync(target, bytes, position)
        else await writeChunk(target, bytes, position)
        bytes.copy(model, position)
        written.add(index)
      } else if (written.has(index)) {
        const into = op.inPlace ? alignedBuffer(length) : Buffer.alloc(length) // aligned: filled in place
        const got = readChunkSync(target, into, length, position)
        assert.equal(got, length)
        assert.equal(sha(into), sha(model.subarray(position, position + length)))
      }
    }
  } finally {
    if (directFd !== undefined) closeSync(directFd)
    closeSync(fd)
  }
  return model
}

function caseOf(c: { chunkSize: number; count: number; lastShort: number; ops: Op[] }) {
  const last = Math.max(1, c.chunkSize - c.lastShort)
  return { ...c, size: (c.count - 1) * c.chunkSize + last }
}

describe('direct I/O (direct-io.ts)', () => {
  it('reopens a file O_DIRECT where the filesystem allows it', async (t) => {
    const dir = await tmpDir(t)
    const fd = openSync(join(dir, 'data'), 'w+')
    const directFd = reopenDirect(fd, true)
    try {
      if (directFd === undefined) return t.skip(`${dir}: this filesystem refuses O_DIRECT`)
      assert.ok(isDirect(directFd), 'the new descriptor is O_DIRECT')
      assert.ok(!isDirect(fd), 'the ordinary one is not')
    } finally {
      if (directFd !== undefined) closeSync(directFd)
      closeSync(fd)
    }
  })

  it('a file written and read through it holds exactly what a buffered model holds (property)', async (t) => {
    const dir = await tmpDir(t)
    let n = 0
    await fc.assert(
      fc.asyncProperty(arbCase, async (raw) => {
        const c = caseOf(raw)
        const direct = join(dir, `direct-${n}`)
        const plain = join(dir, `plain-${n++}`)
        const model = await run(direct, true, c)
        await run(plain, false, c)
        assert.equal(sha(readFileSync(direct)), sha(model))
        assert.equal(sha(readFileSync(plain)), sha(model))
        assert.equal(alignedLeasesOutstanding(), 0)
      }),
      { numRuns: 60 },
    )
  })

  it('many writes at once: one direct at a time, the others wait their turn; all exact', async (t) => {
    const dir = await tmpDir(t)
    const fd = openSync(join(dir, 'data'), 'w+')
    const directFd = reopenDirect(fd, true)
    const chunks = Array.from({ length: 12 }, () => randomBytes(256 * 1024))
    let most = 0
    const watch = setInterval(() => {
      most = Math.max(most, alignedLeasesOutstanding())
    }, 0)
    try {
      await Promise.all(chunks.map((c, i) => writeChunk({ fd, directFd }, c, i * c.length)))
      const back = chunks.map((c, i) => {
        const into = Buffer.alloc(c.length)
        assert.equal(readChunkSync({ fd, directFd }, into, c.length, i * c.length), c.length)
        return into
      })
      assert.equal(sha(Buffer.concat(back)), sha(Buffer.concat(chunks)))
      assert.equal(sha(readFileSync(join(dir, 'data'))), sha(Buffer.concat(chunks)))
      assert.ok(most <= 1, `${most} aligned buffers out at once`)
      assert.equal(alignedLeasesOutstanding(), 0)
    } finally {
      clearInterval(watch)
      if (directFd !== undefined) closeSync(directFd)
      closeSync(fd)
    }
  })

  it('a download goes direct only with chunks of a multiple of 64 KiB, larger than 64 KiB', () => {
    assert.deepEqual([65536, 131072, 1 << 20, 64 << 20, 1_000_000, 4096, 196608 + 4096].map(directChunkSize), [
      false,
      true,
      true,
      true,
      false,
      false,
      false,
    ])
  })

  it('a chunk of random bytes at a 1 MiB offset survives the round trip', async (t) => {
    const dir = await tmpDir(t)
    const fd = openSync(join(dir, 'data'), 'w+')
    const directFd = reopenDirect(fd, true)
    const bytes = randomBytes(1 << 20)
    try {
      await writeChunk({ fd, directFd }, bytes, 1 << 20)
      const into = Buffer.alloc(1 << 20)
      assert.equal(readChunkSync({ fd, directFd }, into, into.length, 1 << 20), into.length)
      assert.equal(sha(into), sha(bytes))
    } finally {
      if (directFd !== undefined) closeSync(directFd)
      closeSync(fd)
    }
  })
})
