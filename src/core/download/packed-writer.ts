import { type FileHandle, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { Bitfield } from '../bitfield.js'
import { directChunkSize, readChunkSync, reopenDirect } from '../direct-io.js'
import { fromFsError, P2PError } from '../errors.js'
import type { FileIdentity } from '../file-identity.js'
import { HashPace } from '../hash-pace.js'
import { type ChunkPlan, isTree, planOf } from '../item.js'
import type { Manifest } from '../manifest.js'
import { portableName } from '../names.js'
import { packedDataPath, packedHavePath, readPackedHave } from '../packed.js'
import { readFully } from '../read-fully.js'
import { closeQuietly } from '../safe-fs.js'
import { removeWriterVouch, WriterVouchPublisher, writerVouchPath } from '../writer-vouch.js'
import { DeferredTree } from './deferred-tree.js'
import { nameVerified, partName, type StitchResult } from './final-name.js'
import { HashedWrites, type Verified } from './hashed-writes.js'
import { HavePublisher, IN_PROCESS_PUBLISH_MS } from './have-publisher.js'
import { openPackedData, SharedDataChanged } from './packed-data.js'
import type { FinishOptions, PackedWriterOptions } from './packed-writer-options.js'
import { mkdirDurable } from './tree-durable.js'
import type { TreeBuilt } from './tree-writer.js'
import { WholeFileHash, wholeFileMismatch } from './whole-file-hash.js'
import { Writeback } from './writeback.js'

/**
 * The one owner of a download's packed `data` file (packed.ts) in the store
 * entry: its descriptor (opened by packed-data.ts), every write into it,
 * `data.have` (through have-publisher.ts; writeback.ts syncs as it goes), and
 * its close.
 * It gives the file its final name in downloads/ only when the whole file's
 * SHA-256 matches the manifest.
 *
 * Each chunk is hashed and, only if it matches, written at its offset in
 * `data` (`verifyAndWrite`: on the hash thread once chunks come fast,
 * hashed-writes.ts); the writer keeps every such write pending until it
 * ends and never closes the descriptor (whose number the kernel would give
 * to the next file opened) while one is, nor starts one once closing has
 * begun. A written chunk is published in `data.have` a moment later, so a
 * running p2p-serve offers it. The whole-file hash follows behind in order
 * (whole-file-hash.ts), so when the last chunk lands only fsync and naming
 * remain. The final file is a hard link to `data` (the bytes are written
 * and stored once); across filesystems, a copy.
 *
 * The final name (final-name.ts) is never overwritten with something
 * different: an identical file is kept, a different one stays and the new
 * file becomes `name (1).ext`, … unless `force` replaces it; until then it
 * is `<name>.part`. The name is the manifest's made portable (names.ts).
 *
 * The entry directory must be a real directory, not a link (checked before
 * and after `data` is opened, and just before every `data.have` is renamed
 * into place), so a download never writes outside the store.
 */

export type { StitchResult } from './final-name.js'
export type { Verified, WriteOutcome } from './hashed-writes.js'

export class PackedWriter {
  /** Chunks whose bytes are in `data`. */
  readonly have: Bitfield
  readonly dataPath: string
  readonly partPath: string
  /** The name in downloads/ (before numbering). */
  readonly finalName: string
  private readonly plan: ChunkPlan
  /** A file's whole-file hash, kept while chunks arrive (a folder's files are hashed as the tree is built). */
  private readonly whole: WholeFileHash | undefined
  /** Verified writes into `data`'s descriptor, each kept until it ends (hashed-writes.ts). */
  private readonly writes: HashedWrites
  /** `data.have`'s one writer (have-publisher.ts). */
  private readonly publisher: HavePublisher
  private readonly writeback: Writeback
  private closed: Promise<void> | undefined
  /** Gives `have` back to `options.vouch`, once `data` is no longer this writer's (or `open` failed). */
  private unvouch: (() => void) | undefined
  /** `data.vouch` (writer-vouch.ts), offered what each `data.have` publishes; none without the item's id. */
  private readonly vouchPublisher: WriterVouchPublisher | undefined
  /** The vouch could not be taken back: the file must not get its final name while it may still vouch. */
  private vouchFailure: unknown
  /** A folder: its tree, built as its files complete once the name is decided (deferred-tree.ts). */
  private tree: DeferredTree | undefined

  private constructor(
    private readonly handle: FileHandle,
    /** `data` opened again O_DIRECT (direct-io.ts), when the store writes direct and that worked; until closed. */
    private directFd: number | undefined,
    /** `data` as opened: what the final name must turn out to be. */
    private readonly dataFile: FileIdentity,
    private readonly options: PackedWriterOptions,
    /** What `data.have` listed at open: still published until accepted or dropped (a re-run checks them). */
    readonly inherited: Bitfield,
    /** `data` is also a finished file, read and checked in place: never written (packed-data.ts). */
    private readonly shared: boolean,
  ) {
    this.plan = planOf(options.manifest)
    this.have = new Bitfield(this.plan.chunkCount)
    this.dataPath = packedDataPath(options.entryDir)
    this.finalName = portableName(options.manifest.name)
    this.partPath = join(options.downloadsDir, partName(this.finalName))
    const file = isTree(options.manifest) ? undefined : options.manifest
    const pace = options.hashPace ?? new HashPace()
    this.whole =
      file &&
      new WholeFileHash(
        file,
        this.have,
        (into, length, position) => this.readAt(into, length, position),
        () => pace.isFast,
      )
    this.vouchPublisher =
      options.id === undefined ? undefined : new WriterVouchPublisher(options.entryDir, options.id, dataFile)
    const publishMs = options.publishMs ?? (options.vouch ? IN_PROCESS_PUBLISH_MS : undefined)
    this.publisher = new HavePublisher(options.entryDir, this.have, inherited, publishMs, (verified) =>
      this.vouchPublisher?.offer(verified),
    )
    // A write of `data` to the disk that failed: what data.have lists may be only in the page cache.
    this.writeback = new Writeback(handle, this.dataPath, () => void this.publisher.withdraw())
    this.writes = new HashedWrites({ fd: handle.fd, directFd }, this.plan.chunkSize, pace)
  }

  /**
   * A write into `data` or `data.have` failed, a read back for the whole-file hash failed, or a folder's tree
   * could not be begun (the first such error): the download stops on it rather than fetch the rest in vain.
   */
  get failure(): unknown {
    return (
      this.writeback.failure ?? this.publisher.failure ?? this.whole?.failure ?? this.vouchFailure ?? this.tree?.failure
    )
  }

  static async open(options: PackedWriterOptions): Promise<PackedWriter> {
    const { entryDir, downloadsDir, manifest } = options
    const path = packedDataPath(entryDir)
    let handle: FileHandle | undefined
    let directFd: number | undefined
    let writer: PackedWriter | undefined
    try {
      await mkdirDurable(downloadsDir)
      const plan = planOf(manifest)
      const count = plan.chunkCount
      const inherited = (await readPackedHave(entryDir, count)) ?? new Bitfield(count)
      const everyChunk = options.keepShared === true && inherited.count() === count
      const opened = await openPackedData(entryDir, plan.packedSize, everyChunk)
      handle = opened.handle
      const direct = options.directIo === true && directChunkSize(plan.chunkSize)
      directFd = direct ? reopenDirect(handle.fd, true) : undefined
      writer = new PackedWriter(handle, directFd, opened.identity, options, inherited, opened.shared)
      writer.unvouch = options.vouch?.register(path, opened.identity, writer.have)
      await removeWriterVouch(entryDir) // an earlier writer's, whoever it was: only ours from now on
      if (isTree(manifest)) writer.tree = DeferredTree.ofDownload(options, manifest, writer.have, writer)
      return writer
    } catch (err) {
      writer?.unvouch?.() // a writer that did not open gives its vouch back at once
      if (directFd !== undefined) closeQuietly(directFd)
      await handle?.close().catch(() => undefined)
      throw fromFsError(err, `opening ${path}`)
    }
  }

  /** Closing has begun: no write starts any more (what arrives now is too late). */
  get closing(): boolean {
    return this.writes.closing
  }

  /** Whether a chunk already in `data` (read back on resume) hashes to `expected`, on the writes' pace. */
  verify(data: Uint8Array, expected: string): Promise<boolean> {
    return this.writes.verify(data, expected)
  }

  /** Chunk `index` hashed and written into `data` only if it is `expected`; go on with the result's bytes (hashed-writes.ts). */
  verifyAndWrite<T extends Uint8Array>(index: number, data: T, expected: string): Promise<Verified<T>> {
    if (this.shared)
      throw new P2PError('E_INTERNAL', `a write of chunk ${index} into ${this.dataPath}, a finished file`)
    return this.writes.verifyAndWrite(index, data, expected)
  }

  /** Chunk `index` read back from `data` into `into` (its length is the chunk's). */
  read(index: number, into: Buffer): Buffer {
    this.readAt(into, into.length, index * this.plan.chunkSize)
    return into
  }

  /**
   * `length` bytes at `position` of `data` into `into`, synchronously: a
   * page-cache read costs less than a round trip through libuv's pool, and a
   * direct one (direct-io.ts: what was written direct is read so) holds
   * this thread for the disk's time, 0.5 ms per MiB here, no more than the
   * fresh pages a buffered read of it would fill.
   */
  readAt(into: Buffer, length: number, position: number): void {
    if (readChunkSync({ fd: this.handle.fd, directFd: this.directFd }, into, length, position) < length)
      throw new P2PError('E_IO', `${this.dataPath} is shorter than expected: was it modified?`)
  }

  /**
   * Chunk `index`, verified, is in `data` (written by `verifyAndWrite`, or
   * found there on resume). The buffer `data` may be reused once this returns.
   */
  accept(index: number, data: Uint8Array): void {
    if (this.writes.closed || this.have.get(index)) return // after close: a late job of a stopped download
    this.have.set(index)
    this.tree?.chunkDone(index)
    this.writeback.add(data.byteLength)
    this.whole?.add(index, data)
    this.publisher.soon()
    if (this.unvouch) this.options.vouch?.grew(this.dataPath)
  }

  /** A chunk `inherited` listed failed its check: no longer publish it (in a finished file: this run ends). */
  drop(index: number): void {
    if (this.shared) throw new SharedDataChanged(index)
    this.inherited.set(index, false)
  }

  /** After every chunk is in: check the whole-file hash, fsync, and give the file its final name. */
  async finish(options: FinishOptions = {}): Promise<StitchResult & Partial<TreeBuilt>> {
    await this.writes.stop()
    await this.writeback.settled() // a write-back under way reports its error here, not to the final fsync
    if (this.failure !== undefined) throw this.failure
    if (this.tree) return this.finishTree(options)
    const sha256 = await this.whole!.result()
    const manifest = this.options.manifest as Manifest
    const { downloadsDir } = this.options
    if (sha256 !== manifest.sha256) {
      await this.discard()
      throw wholeFileMismatch(manifest, sha256)
    }
    try {
      await this.handle.sync()
    } catch (err) {
      await this.publisher.withdraw() // as for a failed write-back
      throw fromFsError(err, `finishing ${this.partPath}`)
    }
    try {
      await this.close()
      if (this.failure !== undefined) throw this.failure
    } catch (err) {
      throw fromFsError(err, `finishing ${this.partPath}`)
    }
    return nameVerified({
      dataPath: this.dataPath,
      partPath: this.partPath,
      verified: this.dataFile,
      dir: downloadsDir,
      name: this.finalName,
      size: manifest.size,
      sha256,
      force: options.force === true,
      beforeFinalName: options.beforeFinalName,
    })
  }

  /**
   * A folder: the files still being copied out of `data` end, each checked
   * against its SHA-256, then the tree gets its final name (tree-writer.ts).
   * `data` stays in the store to be served and resumed.
   */
  private async finishTree(options: FinishOptions): Promise<StitchResult & Partial<TreeBuilt>> {
    const built = await this.tree!.finish(options.beforeFinalName).finally(() => this.close())
    if (this.failure !== undefined) throw this.failure
    return built
  }

  /** `length` bytes at `position` of `data` into `into`, through libuv's pool (a tree copies many files at once). */
  async readAsync(into: Buffer, length: number, position: number): Promise<void> {
    if ((await readFully(this.handle.fd, into, length, position)) < length)
      throw new P2PError('E_IO', `${this.dataPath} is shorter than expected: was it modified?`)
  }

  /**
   * Let the pending writes end, publish what `data` holds and close it; the
   * entry stays for a re-run to resume. Every caller gets the one close.
   */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.writes.close()
      await this.writeback.settled() // one that fails withdraws data.have before the last publish below
      await this.publisher.now()
      // After the last `data.have`: an announcer here reads the file from now on, and finds every chunk in it.
      this.unvouch?.()
      // Before the final name links to `data`: from then on nothing vouches for what is in it.
      await this.vouchPublisher?.stop().catch((err: unknown) => {
        this.vouchFailure ??= fromFsError(err, `removing ${writerVouchPath(this.options.entryDir)}`)
      })
      await this.whole?.settled()
      // A folder stopped before its end: copies under way read `data` (let them end), the temporary tree goes.
      await this.tree?.abandon().catch(() => undefined)
      const directFd = this.directFd
      this.directFd = undefined // its number may be the next file's
      if (directFd !== undefined) closeQuietly(directFd)
      await this.handle.close().catch(() => undefined)
    })()
    return this.closed
  }

  /** Drop `data` and `data.have` (they cannot be trusted): a re-run starts afresh. */
  private async discard(): Promise<void> {
    await this.close()
    await unlink(packedHavePath(this.options.entryDir)).catch(() => undefined)
    await unlink(this.dataPath).catch(() => undefined)
  }
}
