import type { FileHandle } from 'node:fs/promises'
import { basename } from 'node:path'
import type { Bitfield } from './bitfield.js'
import { DEFAULT_CHUNK_SIZE, MiB } from './constants.js'
import { fromFsError, P2PError } from './errors.js'
import { identityOf } from './file-identity.js'
import { hashThreads } from './hash-pool.js'
import { type Collaborators, componentLog, type Logger } from './log.js'
import { chunkCount, encodeManifest, type Manifest, manifestId } from './manifest.js'
import { validateName } from './names.js'
import { readFullySync } from './read-fully.js'
import {
  placeManifest,
  previousContent,
  recordedStamp,
  refuseExisting,
  Slots,
  storeChunk,
  UnplacedChunks,
  withdrawOnce,
} from './split-chunk.js'
import { chunksInPackedData, holdsAsData } from './split-own-data.js'
import { checkChunkSize, openRegularFile } from './split-source.js'
import type { ChunkStore } from './store.js'

export interface SplitOptions {
  store: ChunkStore
  /** From MIN_CHUNK_SIZE (4 KiB) to MAX_CHUNK_SIZE (64 MiB); default 1 MiB. */
  chunkSize?: number
  /** Replace an entry of the same name holding different content. */
  force?: boolean
  onProgress?: (bytesDone: number, bytesTotal: number) => void
  /** Stops the split between chunks (throws the signal's reason): a new entry's chunk files go; a re-split's stay for the next run. */
  signal?: AbortSignal
  /** Bytes of chunk buffers in flight at once (at least two chunks). */
  maxBufferedBytes?: number
  /**
   * The command's private files by identityKey (split-item.ts): the file opened must be none of them, whatever
   * name it was reached by (a link swapped in after the name was checked).
   */
  privateFiles?: ReadonlyMap<string, string>
}

export interface SplitResult {
  name: string
  id: string
  size: number
  chunkSize: number
  chunks: number
  dir: string
  /** The store already held exactly this split: nothing was written. */
  unchanged: boolean
  seconds: number
}

/**
 * Split `path` into the store in one streaming pass. The main thread reads;
 * the whole-file hash runs on a hash thread, and each chunk is hashed and
 * written as a new file in one job on a hash thread (over a file already
 * there: temp + rename, through libuv's pool) while the next one is read. The manifest is written
 * last, so an interrupted split never leaves an entry that looks complete.
 */
export async function splitFile(
  path: string,
  options: SplitOptions,
  collaborators: Collaborators = {},
): Promise<SplitResult> {
  const started = performance.now()
  const log = componentLog(collaborators, 'split')
  const { store } = options
  const chunkSize = checkChunkSize(options.chunkSize ?? DEFAULT_CHUNK_SIZE)
  // Before the open: a name whose bytes are not UTF-8 is not found by the name Node reads it as (E_BAD_NAME).
  const name = validateName(basename(path))
  const handle = await openRegularFile(path, options.privateFiles)
  let unlockPrevious: (() => Promise<void>) | undefined
  let unlockEntry: (() => Promise<void>) | undefined
  const unplaced = new UnplacedChunks()
  try {
    // One split of a name at a time: another one's chunks would land in this entry's directory (E_LOCKED).
    unlockEntry = await store.lockEntry(name, `"${name}"`)
    const opened = await handle.stat({ bigint: true })
    const size = Number(opened.size)
    // A real directory, never a link out of the store; checked again before the manifest is placed, not
    // before every chunk (a check per 64 KiB chunk cost 15 % more CPU: docs/benchmarks.md). A link swapped
    // in mid-split gets chunk copies of the file, never its manifest.
    const dir = await store.makeEntryDir(name)
    const previous = await previousContent(store, name)
    if (previous === undefined) await unplaced.entryFrom(dir)
    // The content found here may be a download running in this store, writing and publishing in this directory:
    // refused (E_LOCKED) rather than withdrawn under it; held until the split ends (lock.ts).
    if (previous?.id) unlockPrevious = await store.lock(previous.id, `"${name}"`)
    // A folder of this name is other content, as a file of another size is.
    const previousFile = previous?.manifest?.version === 1 ? previous.manifest : undefined
    const sameShape = previousFile?.size === size && previousFile.chunkSize === chunkSize
    // A download's file shared again is its entry's own `data`: nothing to write, whatever chunk size was asked
    // (but with --force), as the content is the same (split-own-data.ts).
    const own = previousFile?.size === size && (sameShape || !options.force) ? previous?.id : undefined
    if (own && (await holdsAsData(handle, identityOf(opened), dir, previousFile!.sha256, options))) {
      const [chunks, seconds] = [previousFile!.chunks.length, (performance.now() - started) / 1000]
      return { name, id: own, size, chunkSize: previousFile!.chunkSize, chunks, dir, unchanged: true, seconds }
    }
    if (previous && !sameShape && !options.force)
      throw refuseExisting(
        name,
        previousFile?.size === size ? { held: previousFile.chunkSize, wanted: chunkSize } : undefined,
      )
    const reuse = sameShape ? previousFile.chunks : undefined
    // Replaced content never stands under the previous manifest: it goes before the first chunk changes.
    const withdraw = withdrawOnce(dir, name)
    if (previous && !reuse) await withdraw()

    const recorded = reuse && previous?.id ? await store.verifiedStamps(previous.id) : []
    const inPackedData =
      reuse && !options.force ? await chunksInPackedData(dir, reuse.length, recorded, identityOf(opened)) : undefined
    const chunks = await hashAndWriteChunks(handle, size, {
      ...options,
      modifiedNs: opened.mtimeNs,
      chunkSize,
      dir,
      reuse,
      recorded,
      inPackedData,
      name,
      log,
      withdraw,
    })
    unplaced.placing()
    const manifest: Manifest = { version: 1, name, size, chunkSize, chunks, sha256: chunks.wholeFile }
    const bytes = encodeManifest(manifest)
    const id = manifestId(bytes)
    const unchanged = await placeManifest({
      store,
      dir,
      name,
      bytes,
      id,
      chunks: chunks.length,
      written: chunks.written,
      previousId: previous?.id,
      withdraw,
    })
    const seconds = (performance.now() - started) / 1000
    log.info({ name, id, size, chunks: chunks.length, unchanged, seconds }, 'split done')
    return { name, id, size, chunkSize, chunks: chunks.length, dir, unchanged, seconds }
  } catch (err) {
    await unplaced.discard()
    throw err
  } finally {
    await handle.close().catch(() => undefined)
    await unlockPrevious?.()
    await unlockEntry?.()
  }
}

type ChunkHashes = string[] & { wholeFile: string; written: number }

interface PassOptions extends SplitOptions {
  chunkSize: number
  dir: string
  name: string
  reuse: readonly string[] | undefined
  /** The previous split's verified record, by index (empty: none): reused chunk files changed since are rewritten. */
  recorded: ReadonlyArray<string | null>
  /** The previous content's chunks the entry's packed `data` holds (split-own-data.ts), not written again. */
  inPackedData: Bitfield | undefined
  log: Logger
  /** Withdraws the previous manifest (once) before a chunk of other content replaces one of its chunks. */
  withdraw: () => Promise<void>
  /** The file's modification time when it was opened: written meanwhile, its chunks are no one version of it. */
  modifiedNs: bigint
}

async function hashAndWriteChunks(handle: FileHandle, size: number, options: PassOptions): Promise<ChunkHashes> {
  const count = chunkCount(size, options.chunkSize)
  const slots = new Slots(
    Math.max(2, Math.min(16, Math.floor((options.maxBufferedBytes ?? 32 * MiB) / options.chunkSize))),
    options.chunkSize,
  )
  // The whole-file hash on a hash thread: the main thread, which reads, was the split's wall with it here.
  // An empty or one-chunk file's is hashed here (no thread started for an empty file).
  const whole = hashThreads().stream(count > 1 ? options.chunkSize : 0)
  let wholeFile: Promise<string> = Promise.resolve('')
  const hashes = new Array<string>(count) as ChunkHashes
  hashes.written = 0
  const pending = new Set<Promise<void>>()
  let failure: unknown

  const readChunk = async (index: number): Promise<{ slot: Buffer; view: Buffer }> => {
    const buffer = await slots.acquire()
    const length = Math.min(options.chunkSize, size - index * options.chunkSize)
    // Synchronous on purpose: a read from the page cache costs less than a round trip through
    // libuv's pool, whose threads are busy writing the chunks meanwhile.
    try {
      if (readFullySync(handle.fd, buffer, length, index * options.chunkSize) < length) {
        throw new P2PError(
          'E_IO',
          `${options.name} shrank while being split: run again when it is no longer being written`,
        )
      }
    } catch (err) {
      slots.release(buffer)
      throw err
    }
    return { slot: buffer, view: buffer.subarray(0, length) }
  }

  let next = count > 0 ? readChunk(0) : undefined
  try {
    for (let index = 0; index < count && failure === undefined; index++) {
      options.signal?.throwIfAborted()
      const { slot, view } = await next!
      next = index + 1 < count ? readChunk(index + 1) : undefined
      next?.catch(() => undefined) // surfaced when awaited
      // allSettled: the slot goes back only when neither the whole-file hash nor the chunk's store still reads it.
      const task = Promise.allSettled([whole.update(view), storeFileChunk(index, view, options, hashes)])
        .then((settled) => {
          for (const s of settled) if (s.status === 'rejected') failure ??= s.reason
        })
        .finally(() => {
          slots.release(slot)
          pending.delete(task)
        })
      pending.add(task)
      options.onProgress?.(Math.min((index + 1) * options.chunkSize, size), size)
    }
  } finally {
    // However the loop ended (done, a failure, an abort), the split returns only once no chunk is being written.
    await Promise.all(pending)
    if (next)
      await next.then(
        (v) => slots.release(v.slot),
        () => undefined,
      )
    wholeFile = whole.digest() // ends the stream however the loop ended
    wholeFile.catch(() => undefined) // surfaced when awaited
  }
  if (failure !== undefined) throw failure
  // A write in place keeps the size: its time tells it (a usability pass: exit 0, and a manifest of a mix of
  // the file's versions).
  const after = await handle.stat({ bigint: true })
  if (after.size !== BigInt(size) || after.mtimeNs !== options.modifiedNs)
    throw new P2PError(
      'E_IO',
      `${options.name} changed while being split: run again when it is no longer being written`,
    )
  hashes.wholeFile = await wholeFile
  return hashes
}

/** Chunk `index` stored (split-chunk.ts), its hash recorded; a file written counted. */
async function storeFileChunk(index: number, view: Buffer, options: PassOptions, hashes: ChunkHashes): Promise<void> {
  try {
    const stored = await storeChunk(view, {
      path: options.store.chunkPath(options.dir, index),
      // Reused only when the size and chunk size are the previous split's, so it has an entry at every index.
      before: options.reuse?.[index],
      recorded: recordedStamp(options.recorded, index),
      inPackedData: options.inPackedData?.get(index) ?? false,
      force: options.force,
      refuse: () => refuseExisting(options.name),
      replacing: options.withdraw,
    })
    hashes[index] = stored.sha256
    if (stored.written) hashes.written++
  } catch (err) {
    throw fromFsError(err, `writing chunk ${index} of ${options.name}`)
  }
}
