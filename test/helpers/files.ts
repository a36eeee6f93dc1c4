import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Cleanup, onCleanup } from './cleanup.js'

/** A fresh temporary directory, removed after the test. */
export async function tmpDir(t: Cleanup, prefix = 'p2p-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  onCleanup(t, () => rm(dir, { recursive: true, force: true, maxRetries: 3 }))
  return dir
}

/** Write `size` random bytes to `path` in pieces (never the whole file in memory). */
export async function randomFile(path: string, size: number): Promise<string> {
  const handle = await open(path, 'w')
  const hash = createHash('sha256')
  try {
    for (let done = 0; done < size; ) {
      const piece = randomBytes(Math.min(4 << 20, size - done))
      await handle.write(piece)
      hash.update(piece)
      done += piece.length
    }
  } finally {
    await handle.close()
  }
  return hash.digest('hex')
}

/** Streaming SHA-256 of a file. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const piece of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(piece as Buffer)
  return hash.digest('hex')
}

/** A FIFO at `path`: a plain open of it for reading waits for a writer forever. */
export function mkfifo(path: string): void {
  execFileSync('mkfifo', [path])
}
