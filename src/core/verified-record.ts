import { lstatSync } from 'node:fs'
import { join } from 'node:path'
import { STORE_PRIVATE_DIR } from './constants.js'
import { stampOf } from './disk.js'
import { parseJsonUtf8 } from './json.js'
import { packedDataPath } from './packed.js'
import { readRegularFile } from './safe-fs.js'

/**
 * A store entry's verification record, `.p2p/verified/<id>`: that every
 * chunk of the entry was just hashed and found right, as one stamp (inode,
 * size, mtime, ctime) per chunk of the source that was checked — the chunk
 * files (`'chunks'`, after a split) or the packed `data` (`'packed'`, after a
 * download; chunk files beside it stay unstamped, so they are hashed before
 * they are served). p2p-serve trusts a chunk whose file still has that stamp
 * instead of hashing it again before its first serve; a write to the file
 * changes the stamp. (Corruption that leaves all four unchanged — bit rot
 * under the filesystem, or a rewrite within the same tick of the
 * filesystem's clock as the write the stamp followed — is not caught by
 * this shortcut.) The store writes
 * it (ChunkStore.recordVerified); the chunk server reads it.
 */

export type VerifiedSource = 'chunks' | 'packed'

export function verifiedRecordPath(storeRoot: string, id: string): string {
  return join(storeRoot, STORE_PRIVATE_DIR, 'verified', id)
}

/** The stamps of `count` chunks of the entry in `dir` as they are now (null: not a regular file). */
export async function currentStamps(
  dir: string,
  count: number,
  source: VerifiedSource,
  chunkPath: (index: number) => string,
): Promise<Array<string | null>> {
  // lstat: the server never opens a chunk through a link, so a link's stamp would mean nothing.
  const stampOfFile = (path: string): string | null => {
    try {
      const st = lstatSync(path, { bigint: true })
      return st.isFile() ? stampOf(st) : null
    } catch {
      return null
    }
  }
  if (source === 'packed') return new Array<string | null>(count).fill(stampOfFile(packedDataPath(dir)))
  // Synchronous: the chunk files were just written, their inodes are cached, and an lstat takes microseconds.
  // The same lstats one after another through libuv's pool took ~0.1 s at the end of a split of 1 GiB
  // (docs/benchmarks.md). The event loop gets a turn every STAMPS_PER_TURN files.
  const stamps: Array<string | null> = []
  for (let i = 0; i < count; i++) {
    if (i > 0 && i % STAMPS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve))
    stamps.push(stampOfFile(chunkPath(i)))
  }
  return stamps
}

const STAMPS_PER_TURN = 1024

/** The stamps recorded for `id` (index → stamp), or none when there is no well-formed record of at most `maxBytes`. */
export async function readVerifiedStamps(
  storeRoot: string,
  id: string,
  maxBytes: number,
): Promise<Array<string | null>> {
  try {
    const value = parseJsonUtf8(await readRegularFile(verifiedRecordPath(storeRoot, id), { maxBytes }))
    return Array.isArray(value) ? value.map((v) => (typeof v === 'string' ? v : null)) : []
  } catch {
    return []
  }
}
