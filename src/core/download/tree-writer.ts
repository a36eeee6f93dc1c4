import { createHash } from 'node:crypto'
import { dirname, join } from 'node:path'
import { P2PError } from '../errors.js'
import { layoutOf } from '../item.js'
import { TREE_RECORD_FILE } from '../packed.js'
import { printable } from '../printable.js'
import type { TreeLayout } from '../tree-layout.js'
import { isDir, type TreeFile, type TreeManifest } from '../tree-manifest.js'
import { writeFully, writeFullySync } from '../write-fully.js'
import { breather, TempTree, YIELD_EVERY } from './temp-tree.js'
import { localOf } from './tree-local.js'
import type { FolderEntry, FolderIndex } from './tree-part-walk.js'

/**
 * A folder download's tree, built while the chunks arrive: the temporary
 * tree beside the final name (temp-tree.ts) is made when the download
 * starts (by name, once the name is decided: deferred-tree.ts), with every
 * chosen directory and empty file; each other file is
 * copied out of the store entry's packed `data` (its bytes are one run from
 * its first chunk's offset) as soon as its last chunk is in, a few files at
 * once, its whole-file SHA-256 computed on the way and compared with the
 * manifest's. So the per-file work overlaps the transfer instead of
 * following it (10,000 small files are 10,000 creates). When every file is
 * in, the tree is made durable (tree-durable.ts) and renamed into place. A file that does not hash to the manifest's value stops the
 * download with E_CHECKSUM and the temporary tree is removed: its chunks
 * each matched, so the manifest itself lied about the whole (a peer can
 * make such a manifest; its id is still its hash).
 */

/** One file of a finished folder download, as the receipt lists it. */
export interface TreeFileReceipt {
  /** As the manifest names it. */
  path: string
  /** Where it was saved in the folder, when not at `path` (a name Windows would refuse or misread, made portable). */
  savedAs?: string
  size: number
  sha256: string
  exec?: true
}

export interface TreeBuilt {
  path: string
  /** A folder's: its id (the manifest's hash, which commits to every file's hash). */
  sha256: string
  alreadyThere: boolean
  /** Entries added to a partial copy of this folder that was at the final name (an earlier `--only`); 0 otherwise. */
  filledIn: number
  files: TreeFileReceipt[]
  dirs: number
}

export interface TreeBuilderOptions {
  manifest: TreeManifest
  id: string
  /** Entries to build, by index (default: all). */
  chosen?: readonly boolean[]
  downloadsDir: string
  /** The store entry (holds `data` and the temporary tree's record). */
  entryDir: string
  /** Stops the building of the tree (its directories and empty files, its placing). */
  signal?: AbortSignal
  /** `length` bytes at `position` of `data`, written there before the chunk was reported done. */
  read: (into: Buffer, length: number, position: number) => Promise<void>
  /** The same, synchronously: for small files, where a round trip through libuv's pool costs more than the read. */
  readSync: (into: Buffer, length: number, position: number) => void
}

/** Files copied at once. */
const PARALLEL_FILES = 8
const COPY_BYTES = 1024 * 1024

export class TreeBuilder {
  private readonly layout: TreeLayout
  /** Chunks still missing per file (by file index); -1 for a file not chosen. */
  private readonly missing: Int32Array
  private readonly queue: number[] = []
  private running = 0
  private copied = 0
  private toCopy = 0
  private failure: unknown
  private idle: (() => void) | undefined
  private readonly buffers: Buffer[] = []
  private receipts: TreeFileReceipt[] = []
  private dirs = 0
  /** A file is being copied (for the progress line). */
  onFile: ((path: string) => void) | undefined

  private constructor(
    private readonly o: TreeBuilderOptions,
    private readonly tree: TempTree,
  ) {
    this.layout = layoutOf(o.manifest)
    this.missing = new Int32Array(this.layout.files.length).fill(-1)
  }

  /** The temporary tree with its directories and empty files; files follow as their chunks come in (`chunkDone`). */
  static async start(o: TreeBuilderOptions): Promise<TreeBuilder> {
    const tree = await TempTree.create({
      downloadsDir: o.downloadsDir,
      name: o.manifest.name,
      recordPath: join(o.entryDir, TREE_RECORD_FILE),
      storeRoot: dirname(o.entryDir),
    })
    const builder = new TreeBuilder(o, tree)
    try {
      await builder.plan()
    } catch (err) {
      await tree.discard()
      throw err
    }
    return builder
  }

  /**
   * Every chosen directory and empty file made, the event loop let run every
   * YIELD_EVERY of them (100,000 empty files are 100,000 creates: seconds),
   * stopping when the signal aborts.
   */
  private async plan(): Promise<void> {
    let k = 0
    for (const [i, entry] of this.o.manifest.entries.entries()) {
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await breather(this.o.signal)
      const file = isDir(entry) ? -1 : k++
      if (this.o.chosen !== undefined && !this.o.chosen[i]) continue
      if (isDir(entry)) {
        this.tree.addDir(entry.path)
        this.dirs++
        continue
      }
      const local = localOf(entry.path)
      this.receipts.push({
        path: entry.path,
        ...(local === entry.path ? {} : { savedAs: local }),
        size: entry.size,
        sha256: entry.sha256,
        ...(entry.exec ? { exec: true } : {}),
      })
      if (entry.size === 0) this.tree.addEmptyFile(entry.path, entry.exec === true)
      else {
        this.missing[file] = entry.chunks.length
        this.toCopy++
      }
    }
  }

  /** Global chunk `index` is verified and in `data` (each index once). */
  chunkDone(index: number): void {
    const k = this.layout.fileOf(index)
    if (this.missing[k]! <= 0) return // not chosen
    if (--this.missing[k]! > 0) return
    this.queue.push(k)
    this.pump()
  }

  private pump(): void {
    while (this.running < PARALLEL_FILES && this.queue.length > 0 && this.failure === undefined) {
      const k = this.queue.shift()!
      const file = this.layout.files[k]!
      this.running++
      const buffer = this.buffers.pop() ?? Buffer.allocUnsafe(COPY_BYTES)
      this.onFile?.(file.path)
      const offset = this.layout.firstChunk(k) * this.layout.chunkSize
      void copyFile(this.tree, file, offset, buffer, this.o, () => this.failure)
        .then(
          () => {
            this.copied++
          },
          (err: unknown) => {
            this.failure ??= err
          },
        )
        .finally(() => {
          this.running--
          this.buffers.push(buffer)
          this.pump()
          if (this.running === 0) this.idle?.()
        })
    }
  }

  /** Copies under way have ended. */
  private async settled(): Promise<void> {
    while (this.running > 0) await new Promise<void>((resolve) => (this.idle = resolve))
  }

  /** Every chosen file copied and checked: the tree's final name (NAME, or NAME (1)…). */
  async finish(beforeFinalName?: () => void | Promise<void>): Promise<TreeBuilt> {
    try {
      await this.settled()
      if (this.failure !== undefined) throw this.failure
      if (this.copied !== this.toCopy)
        throw new P2PError('E_INTERNAL', `the download finished with ${this.toCopy - this.copied} files not built`)
      await beforeFinalName?.()
      const placed = await this.tree.place(this.o.signal, folderIndex(this.o.manifest))
      return {
        path: placed.path,
        sha256: this.o.id,
        alreadyThere: placed.alreadyThere,
        filledIn: placed.filledIn,
        files: this.receipts,
        dirs: this.dirs,
      }
    } catch (err) {
      await this.tree.discard()
      throw err
    }
  }

  /** The download stops: let the copies under way stop (each at its next piece: they read `data`), then remove the temporary tree. */
  async abandon(): Promise<void> {
    this.failure ??= new P2PError('E_INTERRUPTED', 'the download stopped')
    this.queue.length = 0
    await this.settled()
    await this.tree.discard()
  }
}

/** The whole manifest's entries by local path, made at the first question (only a folder already at the name asks). */
function folderIndex(manifest: TreeManifest): FolderIndex {
  let byLocal: Map<string, FolderEntry> | undefined
  return (local) => {
    if (byLocal === undefined) {
      byLocal = new Map()
      for (const entry of manifest.entries)
        byLocal.set(
          localOf(entry.path),
          isDir(entry) ? { dir: true } : { dir: false, size: entry.size, exec: entry.exec === true },
        )
    }
    return byLocal.get(local)
  }
}

/**
 * `file`'s bytes from `data` at `offset` into a new file of the tree, hashed
 * on the way. A file of at most one buffer is read and written
 * synchronously: it was just written to `data` (page cache), and for a
 * folder of 10,000 small files two round trips through libuv's pool per
 * file cost more than the copies.
 */
async function copyFile(
  tree: TempTree,
  file: TreeFile,
  offset: number,
  buffer: Buffer,
  io: Pick<TreeBuilderOptions, 'read' | 'readSync'>,
  /** Why the build stopped (abandon's E_INTERRUPTED, another copy's failure): a large file stops at its next piece. */
  stopped: () => unknown,
): Promise<void> {
  await tree.addWrittenFile(
    file.path,
    file.exec === true,
    { size: file.size, sha256: file.sha256 },
    async (fd: number) => {
      // A file of one chunk hashes to that chunk's hash, which its bytes matched before they went into `data`
      // (a manifest saying otherwise is refused when read): no second hash (10,000 small files: 0.13 s).
      const oneChunk = file.chunks.length === 1
      if (oneChunk && file.chunks[0] !== file.sha256) throw inconsistent(file, file.chunks[0]!)
      const hash = oneChunk ? undefined : createHash('sha256')
      for (let done = 0; done < file.size; ) {
        const piece = Math.min(buffer.length, file.size - done)
        const bytes = buffer.subarray(0, piece)
        if (file.size <= buffer.length) {
          io.readSync(buffer, piece, offset + done)
          hash?.update(bytes)
          writeFullySync(fd, bytes, done)
        } else {
          // Abandoning waits for the copies under way: one of a 2 GiB file held a Ctrl-C 15 s (attacker).
          const why = stopped()
          if (why !== undefined) throw why
          await io.read(buffer, piece, offset + done)
          hash?.update(bytes)
          await writeFully(fd, bytes, done)
        }
        done += piece
      }
      const sha256 = hash?.digest('hex') ?? file.sha256
      if (sha256 !== file.sha256) throw inconsistent(file, sha256)
    },
  )
}

function inconsistent(file: TreeFile, sha256: string): P2PError {
  return new P2PError(
    'E_CHECKSUM',
    `${printable(file.path)} hashes to ${sha256}, not ${file.sha256} as the manifest says (each chunk matched: the manifest is inconsistent); nothing was placed`,
  )
}
