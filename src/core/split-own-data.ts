import { createHash } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { lstat } from 'node:fs/promises'
import { join } from 'node:path'
import { MiB } from './constants.js'
import { type FileIdentity, identityOf, sameFile } from './file-identity.js'
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
  const hash = createHash('sha256')
  const buffer = Buffer.allocUnsafe(Math.min(4 * MiB, Math.max(size, 1)))
  for (let at = 0; ; ) {
    options.signal?.throwIfAborted()
    const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, at)
    if (bytesRead === 0) break
    hash.update(buffer.subarray(0, bytesRead))
    at += bytesRead
    options.onProgress?.(Math.min(at, size), size)
  }
  return hash.digest('hex') === sha256
}
