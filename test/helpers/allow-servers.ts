import { join } from 'node:path'
import type { KeyPair } from '@hyperswarm/secret-stream'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { ChunkServer } from '../../src/core/transfer/chunk-server.js'
import { formatPeerId } from '../../src/core/trust/peer-id.js'
import { type Cleanup, onCleanup } from './cleanup.js'
import { randomFile, tmpDir } from './files.js'

/** A small file split into a store, and chunk servers of it over the encrypted transport, with or without --allow. */

export const CHUNK = 64 * 1024
export const SIZE = 10 * CHUNK + 123
export const CHUNKS = Math.ceil(SIZE / CHUNK)

export interface Seeded {
  dir: string
  store: ChunkStore
  id: string
  sha: string
}

/** A random file of SIZE bytes split (CHUNK chunks) into a store under a fresh directory. */
export async function seeded(t: Cleanup): Promise<Seeded> {
  const dir = await tmpDir(t)
  const sha = await randomFile(join(dir, 'f.bin'), SIZE)
  const store = new ChunkStore(join(dir, 'seed'))
  await store.init()
  const { id } = await splitFile(join(dir, 'f.bin'), { store, chunkSize: CHUNK })
  return { dir, store, id, sha }
}

/** A chunk server of `store` over the encrypted transport, holding `keyPair`, letting in only what `allow` does. */
export async function encryptedServer(
  t: Cleanup,
  store: ChunkStore,
  keyPair: KeyPair,
  allow?: (key: Buffer) => boolean,
): Promise<{ server: ChunkServer; port: number; peerId: string }> {
  const s = new ChunkServer({ store, host: '127.0.0.1', port: 0, secure: { keyPair, ...(allow ? { allow } : {}) } })
  const { port } = await s.listen()
  onCleanup(t, () => s.close(100))
  return { server: s, port, peerId: formatPeerId(keyPair.publicKey) }
}
