import type { FileHandle } from 'node:fs/promises'
import { lstat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Bitfield } from './bitfield.js'
import { sharedBuffer } from './buffer-pool.js'
import { MiB } from './constants.js'
import { stampOf } from './disk.js'
import { type FileIdentity, identityOf, sameFile } from './file-identity.js'
import { hashThreads } from './hash-pool.js'
import { PACKED_DATA_FILE, readPackedHave } from './packed.js'

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

/**
 * The chunks of an entry's previous content that its packed `data` holds, for a re-split of the same shape not to
 * write them again as chunk files (undefined: none, write them). A UX audit: a downloaded file edited and shared
 * again wrote chunk files beside `data` until its first changed chunk, then was refused (E_EXISTS) and left them;
 * a copy of a downloaded file or folder shared again wrote every chunk beside it, twice the store. `data` holds a
 * chunk that `data.have` lists when `data` is unchanged since its download's check (its stamp is the verified
 * record's), or when `data` is the very file being split: the split hashes what it reads there. Never with
 * --force, which may withdraw `data` mid-split (split-chunk.ts `withdrawOnce`).
 */
export async function chunksInPackedData(
  dir: string,
  count: number,
  recorded: ReadonlyArray<string | null>,
  opened?: FileIdentity,
): Promise<Bitfield | undefined> {
  const data = await lstat(join(dir, PACKED_DATA_FILE), { bigint: true }).catch(() => undefined)
  if (!data?.isFile() || count === 0) return undefined
  const stamp = stampOf(data)
  const checked = recorded.length === count && recorded.every((s) => s === stamp)
  if (!checked && !(opened !== undefined && sameFile(identityOf(data), opened))) return undefined
  return readPackedHave(dir, count)
}
