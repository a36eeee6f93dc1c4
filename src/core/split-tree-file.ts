import { type BigIntStats, closeSync, constants, fstatSync, openSync } from 'node:fs'
import { type FileHandle, lstat, open } from 'node:fs/promises'
import { basename } from 'node:path'
import type { Bitfield } from './bitfield.js'
import { fromFsError, P2PError } from './errors.js'
import { identityOf, sameFile } from './file-identity.js'
import { hashThreads, INLINE_HASH_BYTES } from './hash-pool.js'
import { chunkCount, sha256Hex } from './manifest.js'
import { printable } from './printable.js'
import { readFully, readFullySync } from './read-fully.js'
import { recordedStamp, refuseExisting, type Slots, storeChunk } from './split-chunk.js'
import type { ChunkStore } from './store.js'
import type { TreeLayout } from './tree-layout.js'
import { EMPTY_SHA256 } from './tree-manifest.js'
import type { WalkedFile } from './tree-walk.js'
import { writeNewFileSync } from './write-fully.js'

/**
 * One file of a folder split (split-tree.ts): read once, in pieces of a
 * chunk, into one of the folder's `Slots`; each chunk hashed and written as
 * the chunk file of its global index, its whole-file hash fed in order on a
 * hash thread (a one-chunk file's is its chunk's). A file is read only while it is the
 * very file the walk found (device, inode, size; opened without following a
 * link), and must not change while it is read.
 *
 * A file of one small chunk (at most INLINE_HASH_BYTES, hashed on this
 * thread) whose chunk file is new is split with synchronous calls: its
 * open, check, read, create, write and closes are microseconds each, while
 * each round trip through libuv's pool cost the main thread more than the
 * call itself (a folder of 10,000 small files: seven of them per file).
 */

/** What splitTree hands each file: its options, and what the files read at once share. */
export interface FileContext {
  store: ChunkStore
  chunkSize: number
  /** Replace an entry of the same name holding different content. */
  force?: boolean
  onProgress?: (bytesDone: number, bytesTotal: number) => void
  signal?: AbortSignal
  dir: string
  reuse: TreeLayout | undefined
  /** The previous split's verified record, by index (empty: none): reused chunk files changed since are rewritten. */
  recorded: ReadonlyArray<string | null>
  /** The previous content's chunks the entry's packed `data` holds (split-own-data.ts), not written again. */
  inPackedData: Bitfield | undefined
  /** Withdraws the previous manifest (once) before a chunk of other content replaces one of its chunks. */
  withdraw: () => Promise<void>
  slots: Slots
  done: { bytes: number; written: number }
  total: number
  /** Another file failed: stop between chunks. */
  failed: () => boolean
}

/** One file: its chunks hashed and written as chunk files from global index `first`; its whole hash. */
export async function splitTreeFile(
  file: WalkedFile,
  first: number,
  o: FileContext,
): Promise<{ chunks: string[]; sha256: string }> {
  const count = chunkCount(file.size, o.chunkSize)
  if (count === 0) {
    // Nothing to read, but still the file the walk found, and still empty (as a read file is checked).
    const st = await lstat(file.source, { bigint: true }).catch(() => undefined)
    if (!st || !stillWalked(st, file)) throw changed(file)
    return { chunks: [], sha256: EMPTY_SHA256 }
  }
  const small = count === 1 && file.size <= INLINE_HASH_BYTES && !o.failed()
  if (small && (o.reuse === undefined || first >= o.reuse.chunkCount)) {
    const buffer = await o.slots.acquire()
    try {
      const split = splitSmallFileSync(file, first, o, buffer)
      if (split !== undefined) return split
    } finally {
      o.slots.release(buffer)
    }
  }
  const handle = await openWalked(file)
  const buffer = await o.slots.acquire()
  // A one-chunk file's hash is its chunk's; a longer one's is fed in order on a hash thread (split.ts).
  const whole = count > 1 ? hashThreads().stream(o.chunkSize) : undefined
  let sha256: Promise<string> | undefined
  try {
    const chunks: string[] = []
    try {
      for (let j = 0; j < count && !o.failed(); j++) {
        o.signal?.throwIfAborted()
        const length = Math.min(o.chunkSize, file.size - j * o.chunkSize)
        const view = buffer.subarray(0, length)
        if ((await readFully(handle.fd, view, length, j * o.chunkSize)) < length) throw changed(file)
        // allSettled: the buffer is read again only when neither the whole-file hash nor the store still reads it.
        const [fed, stored] = await Promise.allSettled([whole?.update(view), storeTreeChunk(view, first + j, o)])
        if (fed.status === 'rejected') throw fed.reason
        if (stored.status === 'rejected') throw stored.reason
        chunks.push(stored.value)
        o.done.bytes += length
        o.onProgress?.(o.done.bytes, o.total)
      }
    } finally {
      sha256 = whole?.digest() // ends the stream however the loop ended
      sha256?.catch(() => undefined) // surfaced when awaited
    }
    const after = await handle.stat()
    if (after.size !== file.size) throw changed(file)
    return { chunks, sha256: (await sha256) ?? chunks[0]! }
  } finally {
    o.slots.release(buffer)
    await handle.close().catch(() => undefined)
  }
}

/**
 * splitTreeFile for a file of one chunk of at most INLINE_HASH_BYTES, with
 * synchronous calls; undefined, with nothing written, when the chunk file's
 * name is taken (an interrupted split's file: the ordinary way replaces it).
 */
function splitSmallFileSync(
  file: WalkedFile,
  index: number,
  o: FileContext,
  buffer: Buffer,
): { chunks: string[]; sha256: string } | undefined {
  o.signal?.throwIfAborted()
  let fd: number
  try {
    fd = openSync(file.source, OPEN_WALKED)
  } catch (err) {
    throw openFailed(err, file)
  }
  try {
    if (!stillWalked(fstatSync(fd, { bigint: true }), file)) throw changed(file)
    const view = buffer.subarray(0, file.size)
    if (readFullySync(fd, view, file.size, 0) < file.size) throw changed(file)
    const sha256 = sha256Hex(view)
    try {
      writeNewFileSync(o.store.chunkPath(o.dir, index), view)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined
      throw fromFsError(err, `writing chunk ${index} of ${printable(o.dir)}`)
    }
    o.done.written++
    if (fstatSync(fd).size !== file.size) throw changed(file)
    o.done.bytes += file.size
    o.onProgress?.(o.done.bytes, o.total)
    return { chunks: [sha256], sha256 }
  } finally {
    closeSync(fd)
  }
}

/** Hash one chunk and write it as chunk file `index`, unless the previous split left that very chunk there. */
async function storeTreeChunk(view: Buffer, index: number, o: FileContext): Promise<string> {
  try {
    const stored = await storeChunk(view, {
      path: o.store.chunkPath(o.dir, index),
      before: o.reuse !== undefined && index < o.reuse.chunkCount ? o.reuse.chunkHash(index) : undefined,
      recorded: recordedStamp(o.recorded, index),
      inPackedData: o.inPackedData?.get(index) ?? false,
      force: o.force,
      refuse: () => refuseExisting(basename(o.dir)),
      replacing: o.withdraw,
    })
    if (stored.written) o.done.written++
    return stored.sha256
  } catch (err) {
    throw fromFsError(err, `writing chunk ${index} of ${printable(o.dir)}`)
  }
}

/** The walked file, opened without following a link, still the same file (device, inode) and size. */
async function openWalked(file: WalkedFile): Promise<FileHandle> {
  let handle: FileHandle
  try {
    handle = await open(file.source, OPEN_WALKED)
  } catch (err) {
    throw openFailed(err, file)
  }
  try {
    const st = await handle.stat({ bigint: true })
    if (!stillWalked(st, file)) throw changed(file)
    return handle
  } catch (err) {
    await handle.close().catch(() => undefined)
    throw err
  }
}

/** A walked file is opened so: never through a link, never blocking on a FIFO put in its place. */
const OPEN_WALKED = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW

function openFailed(err: unknown, file: WalkedFile): P2PError {
  if (['ENOENT', 'ELOOP'].includes((err as NodeJS.ErrnoException).code ?? '')) return changed(file)
  return fromFsError(err, `reading ${printable(file.source)}`)
}

/** `st` is still the file the walk found: a regular file, the same one (device, inode), the same size. */
function stillWalked(st: BigIntStats, file: WalkedFile): boolean {
  return st.isFile() && sameFile(identityOf(st), file.identity) && st.size === BigInt(file.size)
}

function changed(file: WalkedFile): P2PError {
  return new P2PError(
    'E_IO',
    `${printable(file.source)} changed while the folder was being split: run again when it is no longer being written`,
  )
}
