import type { FileHandle } from 'node:fs/promises'
import { lstat } from 'node:fs/promises'
import { join } from 'node:path'
import { sharedBuffer } from './buffer-pool.js'
import { MiB } from './constants.js'
import { type FileIdentity, identityOf, sameFile } from './file-identity.js'
import { hashThreads } from './hash-pool.js'
import { PACKED_DATA_FILE } from './packed.js'

/**
 * Whether the file a split was given is its entry's own packed `data`, holding the very content its manifest
 * names: a finished download is a hard link to its store's `data`, and `p2p share downloads/FILE` wrote every
 * chunk again as a chunk file beside it, a second copy of the whole file in the store (a UX audit: 382 MB became
 * 764 MB). Then nothing is written: the split is "already split". The bytes are hashed (one pass, as a split's), so
 * a file edited since it was downloaded is split as the new content it is.
 */
export async function holdsAsData(
  handle: FileHandle,
  opened: FileIdentity,
  dir: string,
  sha256: string,
  options: { signal?: AbortSignal | undefined; onProgress?: ((done: number, total: number) => void) | undefined },
): Promise<boolean> {
  const data = await lstat(join(dir, PACKED_DATA_FILE), { bigint: true }).catch(() => undefined)
  if (!data?.isFile() || !sameFile(identityOf(data), opened)) return false
  const size = Number(data.size)
  // The whole-file hash as a split makes it (split.ts): on a hash thread, over shared memory.
  const buffer = sharedBuffer(Math.min(4 * MiB, Math.max(size, 1)))
  const hash = hashThreads().stream(buffer.byteLength)
  try {
    for (let at = 0; ; ) {
      options.signal?.throwIfAborted()
      const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, at)
      if (bytesRead === 0) break
      await hash.update(buffer.subarray(0, bytesRead))
      at += bytesRead
      options.onProgress?.(Math.min(at, size), size)
    }
  } catch (err) {
    await hash.digest().catch(() => undefined) // ended however the loop did: the stream does not outlive it
    throw err
  }
  return (await hash.digest()) === sha256
}
