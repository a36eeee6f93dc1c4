import { lstat, open, readdir, rmdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { sharedBuffer } from './buffer-pool.js'
import { MANIFEST_FILE, MAX_MANIFEST_BYTES } from './constants.js'
import { OPEN_DIR, resolvesThroughFd, throughFd } from './dir-fd.js'
import { stampOf, writeFileAtomic } from './disk.js'
import { fromFsError, P2PError } from './errors.js'
import { type FileIdentity, identityOf, sameFile } from './file-identity.js'
import { hashThreads } from './hash-pool.js'
import type { ItemManifest } from './item.js'
import { PACKED_FILES } from './packed.js'
import { printable } from './printable.js'
import { isAbsent, lstatIfPresent, sha256OfRegularFile } from './safe-fs.js'
import type { ChunkStore } from './store.js'
import { isChunkFile } from './store-layout.js'

/**
 * The chunk stage both splits share (a file's, split.ts; each file of a
 * folder's, split-tree-file.ts): the chunk-sized buffers a split reads into
 * (`Slots`), and the storing of each chunk read (`storeChunk`). One copy, so
 * a file and a folder bound their memory and write their chunk files the
 * same way.
 */

/** Where one chunk goes, and what the previous split of the same name left there. */
export interface ChunkPlace {
  /** The chunk file. */
  path: string
  /** The hash the previous split recorded at this index; undefined: nothing there to keep, the file is new. */
  before: string | undefined
  /**
   * The chunk file's stamp in the previous split's verified record (null: none there; undefined: no record): a
   * file whose stamp is another was changed since (damaged in place, edited) and is written again.
   */
  recorded: string | null | undefined
  /**
   * The entry's packed `data` (a download's) holds the previous content's chunk here (split-own-data.ts): the same
   * chunk is then not written again as a chunk file beside it.
   */
  inPackedData: boolean
  /** Replace a previous chunk of different content instead of refusing. */
  force: boolean | undefined
  /** The error for different content where the previous split had a chunk (the caller names the item). */
  refuse: () => P2PError
  /**
   * Awaited before a chunk of different content replaces the previous split's (with `force`): the caller
   * withdraws the previous manifest (once), so no entry ever lists a chunk file the split has changed.
   */
  replacing: () => Promise<void>
}

/**
 * Chunk file `index`'s stamp in the previous split's verified record, `recorded` by index (`Store.verifiedStamps`):
 * null when the record has none there, undefined when there is no record at all (the file is then trusted).
 */
export function recordedStamp(recorded: ReadonlyArray<string | null>, index: number): string | null | undefined {
  return recorded.length > 0 ? (recorded[index] ?? null) : undefined
}

/**
 * Hash chunk `view` and write it as `place.path`, unless the previous split
 * left that very chunk there (its hash, a regular file of its length, not
 * changed since it was recorded) or the entry's packed `data` holds it.
 * Returns the hash and whether a file was written. Errors are the caller's
 * to word (fromFsError, naming the chunk and the item).
 */
export async function storeChunk(view: Buffer, place: ChunkPlace): Promise<{ sha256: string; written: boolean }> {
  const hash = (): Promise<string> => hashThreads().digest(view) // small chunks are hashed on this thread
  if (place.before === undefined) {
    // The common case, a new file: created in place (nothing serves the entry before its manifest, written
    // last), hashed and written in one job on a hash thread. Over a file left there (an interrupted split, a
    // re-split) it is written beside it and renamed over it, so a server holding an older manifest of the entry
    // never reads a file while it is rewritten.
    try {
      return { sha256: await hashThreads().digestAndCreate(view, place.path), written: true }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const [digest, written] = await Promise.allSettled([hash(), writeFileAtomic(place.path, view)])
    if (digest.status === 'rejected') throw digest.reason
    if (written.status === 'rejected') throw written.reason
    return { sha256: digest.value, written: true }
  }
  const sha256 = await hash()
  // Different content where the previous split had a chunk: refused before anything of it is overwritten,
  // or (forced) the previous entry withdrawn first.
  if (sha256 !== place.before) {
    if (!place.force) throw place.refuse()
    await place.replacing()
  }
  if (
    sha256 === place.before &&
    (place.inPackedData ||
      (await lstat(place.path, { bigint: true }).then(
        (s) =>
          s.isFile() &&
          s.size === BigInt(view.length) &&
          (place.recorded === undefined || stampOf(s) === place.recorded),
        () => false,
      )))
  )
    return { sha256, written: false }
  await writeFileAtomic(place.path, view)
  return { sha256, written: true }
}

/**
 * The previous manifest in entry directory `dir` removed once, however many chunk writes ask at the same
 * time; a removal that fails (but for one already gone) fails the split, with an error naming `item`, before
 * any chunk is replaced.
 */
export function withdrawOnce(dir: string, item: string): () => Promise<void> {
  let removal: Promise<void> | undefined
  return () =>
    (removal ??= (async () => {
      await unlink(join(dir, MANIFEST_FILE)).catch((err: unknown) => {
        if (!isAbsent(err)) throw fromFsError(err, `removing the replaced manifest of ${item}`)
      })
      // With it, a download's packed copy of the replaced content: a split stopped now leaves no `data` that a
      // download of other content taking the directory would write into beside the first (best effort).
      for (const file of PACKED_FILES) await unlink(join(dir, file)).catch(() => undefined)
    })())
}

/**
 * A split of a new entry (nothing was under its name) that stops before its manifest is placed (Ctrl-C, a read
 * error, a full disk) takes its chunk files with it, and the directory if nothing else is in it: left, they were
 * data no one could use nor serve until the same split ran again (a UX audit: 135 MB after a Ctrl-C at 0.8 s).
 * `entryFrom` is called once the entry's directory is made: the directory's identity is kept, and only that very
 * directory is emptied, through a descriptor (dir-fd.ts), never one swapped in at its name since (a review: a link
 * put there mid-split had another entry's chunk files deleted). Best effort: the failure is what the caller reports.
 */
export class UnplacedChunks {
  private made: { dir: string; identity: FileIdentity } | undefined

  /** The split made `dir` for a new entry: what a failure discards. */
  async entryFrom(dir: string): Promise<void> {
    const st = await lstat(dir, { bigint: true }).catch(() => undefined)
    this.made = st?.isDirectory() ? { dir, identity: identityOf(st) } : undefined
  }

  /** Every chunk is in: a manifest being placed is not undone. */
  placing(): void {
    this.made = undefined
  }

  async discard(): Promise<void> {
    const made = this.made
    if (made === undefined) return
    const fd = await open(made.dir, OPEN_DIR).catch(() => undefined)
    if (fd === undefined) return
    try {
      if (!sameFile(identityOf(await fd.stat({ bigint: true })), made.identity) || !resolvesThroughFd(fd.fd)) return
      for (const file of await readdir(throughFd(fd.fd)).catch(() => []))
        if (isChunkFile(file)) await unlink(throughFd(fd.fd, file)).catch(() => undefined)
    } finally {
      await fd.close()
    }
    // Empty now unless something else is there; only the directory made, if it still stands at its name.
    const still = await lstat(made.dir, { bigint: true }).catch(() => undefined)
    if (still?.isDirectory() && sameFile(identityOf(still), made.identity)) await rmdir(made.dir).catch(() => undefined)
  }
}

/** Chunk-sized buffers over shared memory (the hash threads read them without a copy), at most `count`. */
export class Slots {
  private readonly free: Buffer[] = []
  private readonly waiting: Array<(b: Buffer) => void> = []
  private made = 0

  constructor(
    private readonly count: number,
    private readonly size: number,
  ) {}

  acquire(): Promise<Buffer> {
    const b = this.free.pop()
    if (b !== undefined) return Promise.resolve(b)
    if (this.made < this.count) {
      this.made++
      return Promise.resolve(sharedBuffer(this.size))
    }
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  release(b: Buffer): void {
    const next = this.waiting.shift()
    if (next !== undefined) next(b)
    else this.free.push(b)
  }
}

/**
 * Both splits' refusal to replace what the store holds under `name` (other content, a folder for a file, a manifest
 * it cannot read, another chunk size) without --force. `chunkSizes`: what is held may be this content split into
 * other chunks, whose size is named, so that the user can reuse it instead of splitting it again.
 */
export function refuseExisting(name: string, chunkSizes?: { held: number; wanted: number }): P2PError {
  if (chunkSizes && chunkSizes.held !== chunkSizes.wanted) {
    const held = chunkSizeText(chunkSizes.held)
    return new P2PError(
      'E_EXISTS',
      `the store already holds "${printable(name)}" split into ${held} chunks (this split: ${chunkSizeText(chunkSizes.wanted)}): pass --chunk-size ${held} to keep it, or --force to replace it`,
    )
  }
  return new P2PError(
    'E_EXISTS',
    `the store already holds something else named "${printable(name)}" (other content, or split with another chunk size): use --force to replace it`,
  )
}

/** A chunk size as --chunk-size reads it back. */
function chunkSizeText(n: number): string {
  if (n % (1 << 20) === 0) return `${n / (1 << 20)}MiB`
  return n % 1024 === 0 ? `${n / 1024}KiB` : String(n)
}

/**
 * What a split of `name` finds under it in the store: nothing (undefined),
 * an item it may reuse or replace (`id`, `manifest`), or a manifest it
 * cannot read (other content too, never passed over). One over the store's
 * size limit (a download may take larger ones, `--max-manifest-bytes`) or
 * damaged still has its `id`, which names a download that may be writing
 * there, for the split to lock; what is not a regular file has none.
 */
export async function previousContent(
  store: ChunkStore,
  name: string,
): Promise<{ id?: string; manifest?: ItemManifest } | undefined> {
  const found = await store.readEntryManifest(name)
  if (found) return { id: found.id, manifest: found.manifest }
  const path = join(store.entryDir(name), MANIFEST_FILE)
  if ((await lstatIfPresent(path, `checking ${path}`)) === undefined) return undefined
  const id = await sha256OfRegularFile(path, { maxBytes: MAX_MANIFEST_BYTES }).catch(() => undefined)
  return id === undefined ? {} : { id }
}

/**
 * A split's last step, once every chunk is in. Unless the entry already is
 * this content, what was under the name goes (`withdraw`: its manifest, and
 * a download's packed copy, which must not be announced or resumed as this
 * content), the new manifest takes its place atomically and the replaced
 * content's verified record goes. The new content's record is written unless
 * nothing changed (the same manifest, no chunk written); returns whether
 * nothing changed.
 */
export async function placeManifest(place: {
  store: ChunkStore
  dir: string
  name: string
  bytes: Buffer
  id: string
  chunks: number
  written: number
  previousId: string | undefined
  withdraw: () => Promise<void>
}): Promise<boolean> {
  const { store, dir, bytes, id, previousId } = place
  const unchanged = previousId === id && place.written === 0
  if (previousId !== id) {
    await place.withdraw()
    await writeFileAtomic(join(dir, MANIFEST_FILE), bytes, { within: store.root }).catch((err: unknown) => {
      throw fromFsError(err, `writing the manifest of ${printable(place.name)}`)
    })
    if (previousId) await store.forgetVerified(previousId)
  }
  if (!unchanged) await store.recordVerified(id, dir, place.chunks, 'chunks')
  return unchanged
}
