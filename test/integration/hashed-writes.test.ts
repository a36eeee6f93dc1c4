import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync } from 'node:fs'
import { open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { plainBuffer } from '../../src/core/buffer-pool.js'
import { reopenDirect } from '../../src/core/direct-io.js'
import { HashedWrites } from '../../src/core/download/hashed-writes.js'
import { HashPace } from '../../src/core/hash-pace.js'
import { hashThreads } from '../../src/core/hash-pool.js'
import { tmpDir } from '../helpers/files.js'

/**
 * A download's verified writes on a real file (hashed-writes.ts): chunks
 * that arrive slowly are hashed on the main thread and no hash thread is
 * started; chunks that arrive fast go to the thread; either way only the
 * chunks that match are written. This file runs in a process of its own,
 * so the process-wide hash pool starts here with no thread.
 */

const CHUNK = 1024 * 1024
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

async function writeChunks(dir: string, name: string, gapMs: number, direct = false) {
  const data = randomBytes(24 * CHUNK)
  const handle = await open(join(dir, name), 'w+')
  const directFd = direct ? reopenDirect(handle.fd, true) : undefined
  if (direct) assert.notEqual(directFd, undefined, `${dir} refuses O_DIRECT`)
  let clock = 0
  const writes = new HashedWrites({ fd: handle.fd, directFd }, CHUNK, new HashPace(), () => clock)
  const outcomes: string[] = []
  for (let i = 0; i < 24; i++) {
    clock += gapMs
    const chunk = plainBuffer(CHUNK) // as a download's pooled chunk buffers are
    data.copy(chunk, 0, i * CHUNK, (i + 1) * CHUNK)
    // Chunk 5 claims another chunk's hash: it must not be written.
    outcomes.push((await writes.verifyAndWrite(i, chunk, sha(i === 5 ? data.subarray(0, CHUNK) : chunk))).outcome)
  }
  await writes.close()
  if (directFd !== undefined) closeSync(directFd)
  await handle.close()
  const written = await readFile(join(dir, name))
  return { data, written, outcomes }
}

describe('verified writes (hashed-writes.ts)', () => {
  // Each path through the page cache and past it (an O_DIRECT descriptor, direct-io.ts); every slow case first,
  // as no hash thread may have started before them.
  for (const direct of [false, true])
    it(`slow chunks (25 MiB/s) are hashed on the main thread and written through the pool: no hash thread starts${direct ? ' (direct)' : ''}`, async (t) => {
      const dir = await tmpDir(t)
      const { data, written, outcomes } = await writeChunks(dir, 'slow', 40, direct)
      assert.equal(hashThreads().threadsRunning, 0)
      assert.equal(outcomes[5], 'mismatch')
      assert.equal(outcomes.filter((o) => o === 'written').length, 23)
      for (let i = 0; i < 24; i++) {
        const at = written.subarray(i * CHUNK, (i + 1) * CHUNK)
        if (i === 5)
          assert.ok(
            at.every((b) => b === 0),
            'the chunk that failed its hash is not written',
          )
        else assert.equal(sha(at), sha(data.subarray(i * CHUNK, (i + 1) * CHUNK)))
      }
    })

  for (const direct of [false, true])
    it(`fast chunks (250 MiB/s) move to the hash thread; every matching chunk is written all the same${direct ? ' (direct)' : ''}`, async (t) => {
      const dir = await tmpDir(t)
      const { data, written, outcomes } = await writeChunks(dir, 'fast', 4, direct)
      assert.equal(hashThreads().threadsRunning, 1)
      assert.equal(outcomes[5], 'mismatch')
      for (let i = 0; i < 24; i++) {
        const at = written.subarray(i * CHUNK, (i + 1) * CHUNK)
        if (i === 5) assert.ok(at.every((b) => b === 0))
        else assert.equal(sha(at), sha(data.subarray(i * CHUNK, (i + 1) * CHUNK)))
      }
    })
})
