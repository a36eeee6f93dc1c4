import { basename, resolve } from 'node:path'
import { P2PError } from './errors.js'
import { identityKey } from './file-identity.js'
import { type Collaborators, componentLog } from './log.js'
import { chunkCount, manifestId } from './manifest.js'
import { validateName } from './names.js'
import { printable } from './printable.js'
import { placeManifest, previousContent, refuseExisting, Slots, UnplacedChunks, withdrawOnce } from './split-chunk.js'
import { chunksInPackedData } from './split-own-data.js'
import { splitTreeFile } from './split-tree-file.js'
import type { ChunkStore } from './store.js'
import { TreeLayout } from './tree-layout.js'
import { encodeTreeManifest, type TreeEntry, type TreeManifest, treeProblem } from './tree-manifest.js'
import { type WalkedFile, type WalkResult, walkTree } from './tree-walk.js'

/**
 * `p2p-split DIR`: a folder into the store as one item (a version-2
 * manifest, tree-manifest.ts). The walk (tree-walk.ts) lists it; then each
 * file is read once (split-tree-file.ts), in pieces of a chunk, each chunk
 * hashed and written as the chunk file of its global index, its whole-file
 * hash fed in order (a one-chunk file's is its chunk's). A few files are
 * read at once, so 10,000 small files keep the disk and both cores busy. A
 * file is read only while it is the very file the walk found (device,
 * inode, size; opened without following a link), and must not change while
 * it is read. The manifest is written last; re-splitting an unchanged
 * folder writes no chunk again.
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
  /** Files the folder must not hold under any name (a hard link to a private file), by identityKey: what each is. */
  privateFiles?: ReadonlyMap<string, string>
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
/** Files started between two turns of the event loop. */
const TURN_EVERY = 256

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
  for (const entry of walk.entries) {
    const what = entry.type === 'file' ? options.privateFiles?.get(identityKey(entry.identity)) : undefined
    if (what !== undefined)
      throw new P2PError(
        'E_USAGE',
        `${what} is inside ${printable(path)} as ${printable(entry.path)} (a link to it): keep it out of the folder to share it`,
      )
  }
  // As a file's split (split.ts): one split of a name at a time, and never withdrawn under a download of it.
  const unlockEntry = await store.lockEntry(name, `"${printable(name)}"`)
  let unlockPrevious: (() => Promise<void>) | undefined
  const unplaced = new UnplacedChunks()
  try {
    const dir = await store.makeEntryDir(name) // a real directory, never a link out of the store
    const previous = await previousContent(store, name)
    if (previous === undefined) await unplaced.entryFrom(dir)
    const previousTree = previous?.manifest?.version === 2 ? previous.manifest : undefined
    unlockPrevious = previous?.id ? await store.lock(previous.id, `"${printable(name)}"`) : undefined
    if (previous !== undefined && !options.force && previousTree?.chunkSize !== chunkSize)
      throw refuseExisting(name, previousTree && { held: previousTree.chunkSize, wanted: chunkSize })
    const reuse = previousTree?.chunkSize === chunkSize ? new TreeLayout(previousTree) : undefined
    // Replaced content never stands under the previous manifest: it goes before the first chunk changes.
    const withdraw = withdrawOnce(dir, printable(name))
    if (previous !== undefined && reuse === undefined) await withdraw()
    const recorded = reuse && previous?.id ? await store.verifiedStamps(previous.id) : []
    // A folder's files in downloads/ are copies of its `data`, never `data` itself.
    const inPackedData = reuse && !options.force ? await chunksInPackedData(dir, reuse.chunkCount, recorded) : undefined

    // Global chunk numbering: each file's first chunk follows the previous files' chunks (entry order).
    const files = walk.entries.filter((e): e is WalkedFile => e.type === 'file')
    const firsts: number[] = []
    let chunks = 0
    for (const f of files) {
      firsts.push(chunks)
      chunks += chunkCount(f.size, chunkSize)
    }
    // A loop, not Math.max(...sizes): spreading 150,000 arguments overflows the stack.
    let largest = 1
    for (const f of files) if (f.size > largest) largest = f.size
    const slots = new Slots(PARALLEL_FILES, Math.min(chunkSize, largest))
    const done = { bytes: 0, written: 0 }
    const hashed = new Map<WalkedFile, { chunks: string[]; sha256: string }>()
    let next = 0
    let failure: { err: unknown } | undefined
    // Small files are split with synchronous calls: every TURN_EVERY files, all workers wait for one turn of the
    // event loop (timers, signals, Ctrl-C), else those still running would go on without one.
    let sinceTurn = 0
    let turn: Promise<void> | undefined
    const breathe = async (): Promise<void> => {
      if (++sinceTurn < TURN_EVERY && turn === undefined) return
      turn ??= new Promise<void>((turned) =>
        setImmediate(() => {
          sinceTurn = 0
          turn = undefined
          turned()
        }),
      )
      await turn
    }
    const worker = async (): Promise<void> => {
      // After a failure no file is started; the split returns only once every file being read has stopped.
      for (;;) {
        await breathe()
        if (next >= files.length || failure !== undefined) return
        const k = next++
        try {
          hashed.set(
            files[k]!,
            await splitTreeFile(files[k]!, firsts[k]!, {
              ...options,
              dir,
              reuse,
              recorded,
              inPackedData,
              withdraw,
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
    unplaced.placing()
    const unchanged = await placeManifest({
      store,
      dir,
      name,
      bytes,
      id,
      chunks,
      written: done.written,
      previousId: previous?.id,
      withdraw,
    })
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
  } catch (err) {
    await unplaced.discard()
    throw err
  } finally {
    await unlockPrevious?.()
    await unlockEntry()
  }
}
