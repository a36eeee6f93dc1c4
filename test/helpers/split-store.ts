import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { chunkLength, manifestId, parseManifest, sha256Hex } from '../../src/core/manifest.js'
import { ChunkStore, chunkFileName } from '../../src/core/store.js'
import { tmpDir } from './files.js'

/** A file split's tests' store (integration/split, integration/split-stopped), and what a whole entry holds. */

/** A fresh store in a temporary directory. */
export async function setup(t: Parameters<typeof tmpDir>[0]) {
  const dir = await tmpDir(t)
  const store = new ChunkStore(join(dir, 'chunks'))
  await store.init()
  return { dir, store }
}

/** The chunks, concatenated, are the file; each hashes to its manifest entry; the id is the manifest's hash. */
export async function assertStoreHolds(store: ChunkStore, name: string, fileSha: string) {
  const entry = await store.readEntryManifest(name)
  assert.ok(entry, 'manifest written')
  const bytes = await readFile(join(store.root, name, 'manifest.json'))
  assert.equal(entry.id, manifestId(bytes))
  const m = parseManifest(bytes, { expectedId: entry.id })
  assert.equal(m.sha256, fileSha)
  const parts: Buffer[] = []
  for (let i = 0; i < m.chunks.length; i++) {
    const chunk = await readFile(join(store.root, name, chunkFileName(i)))
    assert.equal(chunk.length, chunkLength(m, i))
    assert.equal(sha256Hex(chunk), m.chunks[i])
    parts.push(chunk)
  }
  assert.equal(sha256Hex(Buffer.concat(parts)), fileSha)
  return m
}
