import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { plainBuffer } from '../../src/core/buffer-pool.js'
import type { PackedWriter } from '../../src/core/download/packed-writer.js'
import type { Manifest } from '../../src/core/manifest.js'
import { tmpDir } from './files.js'

export const sha = (b: string | Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** `size` random bytes and their manifest in chunks of `chunkSize`. */
export function sample(size: number, chunkSize: number, name = 'file.bin'): { data: Buffer; manifest: Manifest } {
  const data = randomBytes(size)
  const chunks: string[] = []
  for (let at = 0; at < size; at += chunkSize) chunks.push(sha(data.subarray(at, at + chunkSize)))
  return { data, manifest: { version: 1, name, size, chunkSize, chunks, sha256: sha(data) } }
}

/**
 * A verified chunk into `data` the way the downloader puts one: in a chunk buffer of its own (which the hash
 * thread may take and give back), hashed and written (hashed-writes.ts), then accepted as it came back.
 */
export async function put(s: PackedWriter, index: number, bytes: Buffer): Promise<void> {
  const chunk = plainBuffer(bytes.length)
  bytes.copy(chunk)
  const verified = await s.verifyAndWrite(index, chunk, sha(bytes))
  assert.equal(verified.outcome, 'written')
  s.accept(index, verified.data)
}

/** downloads/ inside a fresh temporary directory that also holds the store entries. */
export async function downloadsDir(t: Parameters<typeof tmpDir>[0]): Promise<string> {
  const dir = join(await tmpDir(t), 'downloads')
  await mkdir(dir)
  return dir
}
