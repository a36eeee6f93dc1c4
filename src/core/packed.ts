import { lstat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Bitfield } from './bitfield.js'
import { replaceSmallFile } from './disk.js'
import { readRegularFileSync } from './safe-fs.js'
import { StampedFileCache } from './stamped-cache.js'

/**
 * The packed form of a store entry, which downloads write:
 *
 *   chunks/<name>/manifest.json   as for a split entry
 *   chunks/<name>/data            the file's bytes, chunk i at offset i × chunkSize (sparse where missing)
 *   chunks/<name>/data.have       which chunks `data` holds: the bitfield's bytes, ⌈chunks / 8⌉ of them,
 *                                 most significant bit first (as on the wire); replaced atomically
 *   chunks/<name>/data.vouch      while a download writes `data`: which process it is (writer-vouch.ts)
 *   chunks/<name>/tree.part       a folder's download: the name of its temporary tree (tree-writer.ts)
 *
 * A folder's `data` is laid out the same way by global chunk index: each
 * file's bytes are one run from its first chunk's offset (its last chunk
 * may be short, leaving a hole before the next file's).
 *
 * A download writes each verified chunk once, into `data`; the finished file
 * in downloads/ is a hard link to it (a copy only across filesystems), so the
 * bytes are written once and stored once, and the entry is served as soon as
 * `data.have` lists a chunk. A chunk is published in `data.have` only after
 * its bytes are in `data`; a server still hashes a packed chunk before it
 * serves it unless the download still writing `data` vouches for it
 * (vouched-chunks.ts, writer-vouch.ts) or `data`'s stamp is the one
 * recorded when the download finished. Split entries keep one file per chunk (`000000.chunk`, …); an
 * entry may hold both, and either source serves.
 */
export const PACKED_DATA_FILE = 'data'
export const PACKED_HAVE_FILE = 'data.have'
export const PACKED_VOUCH_FILE = 'data.vouch'
/** What a split replacing an entry's content removes: the vouch first, so nothing vouches for a `data` on its way out. */
export const PACKED_FILES = [PACKED_VOUCH_FILE, PACKED_HAVE_FILE, PACKED_DATA_FILE] as const
/** A folder download's record of its temporary tree's name in downloads/ (temp-tree.ts), for the next run to remove. */
export const TREE_RECORD_FILE = 'tree.part'
/** The folder this item's downloads placed in downloads/, for a later part to be filled in (tree-placed.ts). */
export const TREE_PLACED_FILE = 'tree.placed'

export function packedDataPath(dir: string): string {
  return join(dir, PACKED_DATA_FILE)
}

export function packedHavePath(dir: string): string {
  return join(dir, PACKED_HAVE_FILE)
}

/**
 * The chunks `data` holds, or undefined when there is no well-formed
 * `data.have` for `count` chunks: a regular file (never followed through a
 * symlink, never a FIFO or device) of exactly ⌈count / 8⌉ bytes with its
 * spare bits clear; nothing more is ever read.
 */
export async function readPackedHave(dir: string, count: number): Promise<Bitfield | undefined> {
  const size = Math.ceil(count / 8)
  try {
    // Synchronous: a few bytes, read several times a second while a download runs; a round trip through libuv's pool costs more.
    const bytes = readRegularFileSync(packedHavePath(dir), { maxBytes: size })
    if (bytes.length !== size) return undefined
    const have = new Bitfield(count, bytes)
    return have.hasCleanTail() ? have : undefined
  } catch {
    return undefined
  }
}

export async function writePackedHave(dir: string, have: Bitfield): Promise<void> {
  await replaceSmallFile(packedHavePath(dir), have.bytes, { within: dirname(dir) })
}

/** `data.have` read at most once per version of the file (stamped-cache.ts): a server asks for every chunk it serves from `data`. */
export class PackedHaveCache {
  private readonly cache = new StampedFileCache<Bitfield>()

  get(dir: string, count: number): Promise<Bitfield | undefined> {
    return this.cache.get(packedHavePath(dir), () => readPackedHave(dir, count))
  }
}

/**
 * Bytes of the disk that `data` in `dir` holds already (its allocated blocks; 0 when there is none): a resume
 * writes those chunks again in place, so they need no more room, listed in `data.have` or not (a download
 * stopped by a full disk had written chunks it never listed).
 */
export async function packedAllocatedBytes(dir: string): Promise<number> {
  const st = await lstat(packedDataPath(dir)).catch(() => undefined)
  return st?.isFile() ? st.blocks * 512 : 0
}
