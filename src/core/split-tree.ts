import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { type FileHandle, lstat, open, unlink } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { sharedBuffer } from './buffer-pool.js'
import { MANIFEST_FILE } from './constants.js'
import { writeFileAtomic } from './disk.js'
import { fromFsError, P2PError } from './errors.js'
import { identityOf, sameFile } from './file-identity.js'
import { hashThreads } from './hashing.js'
import { type Collaborators, componentLog } from './log.js'
import { chunkCount, manifestId } from './manifest.js'
import { validateName } from './names.js'
import { PACKED_DATA_FILE, PACKED_HAVE_FILE } from './packed.js'
import { printable } from './printable.js'
import { readRegularFile } from './safe-fs.js'
import type { ChunkStore } from './store.js'
import { TreeLayout } from './tree-layout.js'
import {
  EMPTY_SHA256,
  encodeTreeManifest,
  parseTreeManifest,
  type TreeEntry,
  type TreeManifest,
  treeProblem,
} from './tree-manifest.js'
import { type WalkedFile, type WalkResult, walkTree } from './tree-walk.js'

/**
 * `p2p-split DIR`: a folder into the store as one item (a version-2
 * manifest, tree-manifest.ts). The walk (tree-walk.ts) lists it; then each
 * file is read once, in pieces of a chunk, each chunk hashed and written as
 * the chunk file of its global index, its whole-file hash fed in order (a
 * one-chunk file's is its chunk's). A few files are read at once, so
 * 10,000 small files keep the disk and both cores busy. A file is read only
 * while it is the very file the walk found (device, inode, size; opened
 * without following a link), and must not change while it is read. The
 * manifest is written last; re-splitting an unchanged folder writes no
 * chunk again.
 */

export interface SplitTreeOptions {
  store: ChunkStore
  chunkSize: number
  /** Replace an entry of the same name holding different content. */
  force?: boolean
  followSymlinks?: boolean
  maxEntries?: number
  onProgress?: (bytesDone: number, bytesTotal: number) => void
  signal?: AbortSignal
}

export interface SplitTreeResult {
  name: string
  id: string
  size: number
  chunkSize: number
  chunks: number
  files: number
  dirs: number
  dir: string
  unchanged: boolean
  seconds: number
  /** What the walk left out (links, FIFOs, …): the first 1,000, and how many in all. */
  skipped: WalkResult['skipped']
  skippedCount: number
}

/** Files read at once. */
const PARALLEL_FILES = 8

export async function splitTree(
  path: string,
  options: SplitTreeOptions,
  collaborators: Collaborators = {},
): Promise<SplitTreeResult> {
  const started = performance.now()
  const log = componentLog(collaborators, 'split')
  const { store, chunkSize } = options
  const name = validateName(basename(resolve(path)))
  const walk = await walkTree(path, {
    followSymlinks: options.followSymlinks,
    maxEntries: options.maxEntries,
    signal: options.signal,
  })
  const previous = await previousEntry(store, name)
  if (previous !== undefined && !options.force && previous.manifest?.chunkSize !== chunkSize) throw refuseExisting(name)
  const dir = await store.makeEntryDir(name)
  const reuse = previous?.manifest?.chunkSize === chunkSize ? new TreeLayout(previous.manifest) : undefined

  // Global chunk numbering: each file's first chunk follows the previous files' chunks (entry order).
  const files = walk.entries.filter((e): e is WalkedFile => e.type === 'file')
  const firsts: number[] = []
  let chunks = 0
  for (const f of files) {
    firsts.push(chunks)
    chunks += chunkCount(f.size, chunkSize)
  }
  const slots = new Slots(PARALLEL_FILES, Math.min(chunkSize, Math.max(1, ...files.map((f) => f.size))))
  const done = { bytes: 0, written: 0 }
  const hashed = new Map<WalkedFile, { chunks: string[]; sha256: string }>()
  let next = 0
  let failure: { err: unknown } | undefined
  const worker = async (): Promise<void> => {
    // After a failure no file is started; the split returns only once every file being read has stopped.
    while (next < files.length && failure === undefined) {
      const k = next++
      try {
        hashed.set(
          files[k]!,
          await splitOne(files[k]!, firsts[k]!, {
            ...options,
            dir,
            reuse,
            slots,
            done,
            total: walk.bytes,
            failed: () => failure !== undefined,
          }),
        )
      } catch (err) {
        failure ??= { err }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL_FILES, files.length) }, worker))
  if (failure !== undefined) throw failure.err

  const entries: TreeEntry[] = walk.entries.map((e) => {
    if (e.type === 'dir') return { path: e.path, type: 'dir' }
    const h = hashed.get(e)!
    return {
      path: e.path,
      size: e.size,
      chunks: h.chunks,
      sha256: h.sha256,
      ...(e.exec ? { exec: true as const } : {}),
    }
  })
  const manifest: TreeManifest = { version: 2, name, chunkSize, entries }
  const problem = treeProblem(manifest, options.maxEntries)
  if (problem !== undefined) throw new P2PError('E_BAD_NAME', `cannot share ${printable(walk.root)}: ${problem}`)
  const bytes = encodeTreeManifest(manifest)
  const id = manifestId(bytes)
  if (previous !== undefined && previous.id !== id && !options.force) throw refuseExisting(name)
  const unchanged = previous?.id === id && done.written === 0
  if (previous?.id !== id) {
    // A download's copy of the replaced content must not be announced or resumed as this one.
    await unlink(join(dir, MANIFEST_FILE)).catch(() => undefined)
    for (const file of [PACKED_HAVE_FILE, PACKED_DATA_FILE]) await unlink(join(dir, file)).catch(() => undefined)
    await writeFileAtomic(join(dir, MANIFEST_FILE), bytes, { within: store.root }).catch((err: unknown) => {
      throw fromFsError(err, `writing the manifest of ${printable(name)}`)
    })
  }
  if (!unchanged) await store.recordVerified(id, dir, chunks, 'chunks')
  const seconds = (performance.now() - started) / 1000
  const result = {
    name,
    id,
    size: walk.bytes,
    chunkSize,
    chunks,
    files: files.length,
    dirs: walk.entries.length - files.length,
    dir,
    unchanged,
    seconds,
    skipped: walk.skipped,
    skippedCount: walk.skippedCount,
  }
  log.info(
    { name, id, size: walk.bytes, files: files.length, chunks, skipped: walk.skippedCount, unchanged, seconds },
    'folder split done',
  )
  return result
}

interface FileContext extends SplitTreeOptions {
  dir: string
  reuse: TreeLayout | undefined
  slots: Slots
  done: { bytes: number; written: number }
  total: number
  /** Another file failed: stop between chunks. */
  failed: () => boolean
}

/** One file: its chunks hashed and written as chunk files from global index `first`; its whole hash. */
async function splitOne(
  file: WalkedFile,
  first: number,
  o: FileContext,
): Promise<{ chunks: string[]; sha256: string }> {
  const count = chunkCount(file.size, o.chunkSize)
  if (count === 0) return { chunks: [], sha256: EMPTY_SHA256 }
  const handle = await openWalked(file)
  const buffer = await o.slots.acquire()
  try {
    const whole = count > 1 ? createHash('sha256') : undefined
    const chunks: string[] = []
    for (let j = 0; j < count && !o.failed(); j++) {
      o.signal?.throwIfAborted()
      const length = Math.min(o.chunkSize, file.size - j * o.chunkSize)
      const view = buffer.subarray(0, length)
      await readFully(handle, view, j * o.chunkSize, file)
      whole?.update(view)
      chunks.push(await storeChunk(view, first + j, o))
      o.done.bytes += length
      o.onProgress?.(o.done.bytes, o.total)
    }
    const after = await handle.stat()
    if (after.size !== file.size) throw changed(file)
    return { chunks, sha256: whole?.digest('hex') ?? chunks[0]! }
  } finally {
    o.slots.release(buffer)
    await handle.close().catch(() => undefined)
  }
}

/** Hash one chunk and write it as chunk file `index`, unless the previous split left that very chunk there. */
async function storeChunk(view: Buffer, index: number, o: FileContext): Promise<string> {
  const path = o.store.chunkPath(o.dir, index)
  const hash = (): Promise<string> => hashThreads().digest(view) // small chunks are hashed on this thread
  try {
    const before = o.reuse !== undefined && index < o.reuse.chunkCount ? o.reuse.chunkHash(index) : undefined
    if (before === undefined) {
      // Hash (on a hash thread) while libuv's pool writes: both only read `view`.
      const [digest, written] = await Promise.allSettled([hash(), writeFileAtomic(path, view)])
      if (digest.status === 'rejected') throw digest.reason
      if (written.status === 'rejected') throw written.reason
      o.done.written++
      return digest.value
    }
    const digest = await hash()
    // Different content where the previous split had a chunk: refused before anything of it is overwritten.
    if (digest !== before && !o.force) throw refuseExisting(basename(o.dir))
    if (
      digest === before &&
      (await lstat(path).then(
        (s) => s.isFile() && s.size === view.length,
        () => false,
      ))
    )
      return digest
    await writeFileAtomic(path, view)
    o.done.written++
    return digest
  } catch (err) {
    throw fromFsError(err, `writing chunk ${index} of ${printable(o.dir)}`)
  }
}

/** The walked file, opened without following a link, still the same file (device, inode) and size. */
async function openWalked(file: WalkedFile): Promise<FileHandle> {
  let handle: FileHandle
  try {
    handle = await open(file.source, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW)
  } catch (err) {
    if (['ENOENT', 'ELOOP'].includes((err as NodeJS.ErrnoException).code ?? '')) throw changed(file)
    throw fromFsError(err, `reading ${printable(file.source)}`)
  }
  const st = await handle.stat({ bigint: true })
  if (!st.isFile() || !sameFile(identityOf(st), file.identity) || st.size !== BigInt(file.size)) {
    await handle.close()
    throw changed(file)
  }
  return handle
}

async function readFully(handle: FileHandle, into: Buffer, position: number, file: WalkedFile): Promise<void> {
  for (let got = 0; got < into.length; ) {
    const { bytesRead } = await handle.read(into, got, into.length - got, position + got)
    if (bytesRead === 0) throw changed(file)
    got += bytesRead
  }
}

function changed(file: WalkedFile): P2PError {
  return new P2PError(
    'E_IO',
    `${printable(file.source)} changed while the folder was being split: run again when it is no longer being written`,
  )
}

function refuseExisting(name: string): P2PError {
  return new P2PError(
    'E_EXISTS',
    `the store already holds a different item named "${printable(name)}": use --force to replace it`,
  )
}

/**
 * What the store holds under this name: a folder split before (its chunks
 * may be reused), something else (a file's entry: `manifest` undefined), or
 * nothing.
 */
async function previousEntry(
  store: ChunkStore,
  name: string,
): Promise<{ id: string; manifest: TreeManifest | undefined } | undefined> {
  let bytes: Buffer
  try {
    bytes = await readRegularFile(join(store.entryDir(name), MANIFEST_FILE), { maxBytes: 64 * 1024 * 1024 })
  } catch {
    return undefined
  }
  try {
    return {
      id: manifestId(bytes),
      manifest: parseTreeManifest(bytes, { maxBytes: bytes.length, maxEntries: Number.MAX_SAFE_INTEGER }),
    }
  } catch {
    return { id: manifestId(bytes), manifest: undefined }
  }
}

/** Chunk-sized buffers over shared memory (the hash threads read them without a copy), at most `count`. */
class Slots {
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
