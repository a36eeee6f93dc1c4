import { createHash, randomBytes } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { HashPace } from '../../src/core/hash-pace.js'
import { encodeManifest, type Manifest, manifestId } from '../../src/core/manifest.js'
import { ChunkStore } from '../../src/core/store.js'
import { ChunkServer } from '../../src/core/transfer/chunk-server.js'
import { PeerClient } from '../../src/core/transfer/client.js'
import type { VouchedChunks } from '../../src/core/vouched-chunks.js'
import { type Cleanup, onCleanup } from './cleanup.js'
import { tmpDir } from './files.js'

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/**
 * A file of `chunks` random chunks (the last one `shortBy` bytes short),
 * prepared as a store entry to download into (no `data` yet), a real chunk
 * server on that store and a client of it over loopback, both closed with
 * the test. `downloadsDir` exists and is empty.
 */
export async function servedEntry(
  t: Cleanup,
  options: {
    chunks: number
    chunkSize: number
    shortBy: number
    name: string
    serving?: { vouched?: VouchedChunks; hashPace?: HashPace }
  },
) {
  const { chunks, chunkSize } = options
  const dir = await tmpDir(t)
  const store = new ChunkStore(join(dir, 'chunks'))
  await store.init()
  const data = randomBytes(chunks * chunkSize - options.shortBy)
  const hashes: string[] = []
  for (let at = 0; at < data.length; at += chunkSize) hashes.push(sha(data.subarray(at, at + chunkSize)))
  const manifest: Manifest = {
    version: 1,
    name: options.name,
    size: data.length,
    chunkSize,
    chunks: hashes,
    sha256: sha(data),
  }
  const bytes = encodeManifest(manifest)
  const entryDir = await store.prepareEntry(bytes, manifest)
  const downloadsDir = join(dir, 'downloads')
  await mkdir(downloadsDir)
  const server = new ChunkServer({ store, host: '127.0.0.1', port: 0, ...options.serving })
  const { port } = await server.listen()
  onCleanup(t, () => server.close(100))
  const client = await PeerClient.connect({ host: '127.0.0.1', port })
  onCleanup(t, () => client.close())
  const chunk = (i: number): Buffer => data.subarray(i * chunkSize, (i + 1) * chunkSize)
  return { dir, store, data, manifest, bytes, id: manifestId(bytes), entryDir, downloadsDir, server, client, chunk }
}
