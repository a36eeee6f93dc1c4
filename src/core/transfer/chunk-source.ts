import { type BigIntStats, constants, fstatSync, openSync } from 'node:fs'
import { BoundedMap } from '../bounded-map.js'
import { directChunkSize, readChunkSync, reopenDirect } from '../direct-io.js'
import { stampOf } from '../disk.js'
import { P2PError } from '../errors.js'
import { type FileIdentity, identityOf } from '../file-identity.js'
import { HashPace } from '../hash-pace.js'
import { hashThreads } from '../hash-pool.js'
import { type ItemManifest, planOf } from '../item.js'
import { type Logger, silentLogger } from '../log.js'
import { PackedHaveCache, packedDataPath } from '../packed.js'
import { readFully } from '../read-fully.js'
import { closeQuietly } from '../safe-fs.js'
import type { ChunkStore } from '../store.js'
import type { VouchedChunks } from '../vouched-chunks.js'
import { WriterVouchCache } from '../writer-vouch.js'
import { CheckedStamps, settled } from './checked-stamps.js'
import { heldBackFields, LogGate } from './log-gate.js'
import type { CatalogEntry, StoreCatalog } from './store-catalog.js'

/**
 * What the chunk server serves from: entries by id (from the catalog) and
 * verified chunk bytes, read into a buffer the caller owns (looked up by id
 * and integer index only; a request never names a path).
 *
 * Every chunk's SHA-256 is checked against the manifest before it is first
 * served, and again whenever its file changes (inode, size, mtime or ctime),
 * before or while it is read (its file is stat'ed again after the read),
 * unless a download still writing it wrote it after its own check, in this
 * process (vouched-chunks.ts) or another (writer-vouch.ts);
 * a chunk that fails (its hash, or its file's size or type) is refused with
 * E_NOT_FOUND and logged, and refused again, neither read, hashed nor logged,
 * until its file changes (asking for it over and over costs a stranger's
 * requests, not our CPU nor our disk). Chunk files (and
 * a downloaded entry's packed `data.have`) are looked at per request, so
 * chunks a running download writes are served at once; a chunk the download
 * in this process vouches for is served from its `data` without either.
 * Chunk files and packed `data` are opened with O_NOFOLLOW | O_NONBLOCK: a
 * symlink in the store never leads outside it, and a FIFO there never
 * blocks the server.
 */

export interface ChunkSourceOptions {
  log?: Logger
  /** Reads up to this size are done synchronously (from the page cache, cheaper than a round trip through libuv's pool). */
  syncReadBytes?: number
  /** Chunks a download in this process verified and wrote into a packed `data` it holds open: served without hashing them again. */
  vouched?: VouchedChunks
  /** Where chunks are hashed (hash-pace.ts; tests choose a path). */
  hashPace?: HashPace
}

const MAX_DAMAGED_ENTRIES = 1_000_000
/**
 * Lines about damaged chunks: one per chunk and state of its file, and at most this many in 10 s however many
 * chunks are damaged (a whole packed `data` of the wrong size is one line per chunk asked); the rest are counted
 * onto the next line let through.
 */
const DAMAGE_LOG_LIMITS = { burst: 20, windowMs: 10_000, maxAddresses: 1, totalBurst: 20 }

/** A read-only descriptor, or undefined when the file is absent or a symlink (never followed; a FIFO opens without blocking and fails the isFile check). */
function openNoFollow(file: string, index: number): number | undefined {
  try {
    return openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ELOOP') return undefined
    throw new P2PError('E_IO', `cannot read chunk ${index} on this peer: ${code}`)
  }
}

interface OpenChunk {
  fd: number
  path: string
  /** Where the chunk starts in the file. */
  offset: number
  /** What `verified` remembers the chunk by. */
  key: string
  packed: boolean
  /** The descriptor's stats, when open() already read them. */
  stats?: BigIntStats
  /** A download in this process vouches for the chunk in this very file (asked before the read). */
  vouched?: boolean
}

export class ChunkSource {
  readonly stats = { corruptChunks: 0, hashedChunks: 0 }
  /** What is known good by its file's stamp, and need not be hashed again. */
  private readonly checked: CheckedStamps
  /** Chunks found damaged, by the stamp of the file that held them: asked again, refused without reading, hashing or logging. */
  private readonly damaged = new BoundedMap<string, string>(MAX_DAMAGED_ENTRIES)
  private readonly damageLog = new LogGate(DAMAGE_LOG_LIMITS)
  private readonly packedHave = new PackedHaveCache()
  /** What a download in another process verified and wrote into `data` (writer-vouch.ts). */
  private readonly writerVouches = new WriterVouchCache()
  /** Where chunks are hashed: this thread while few need it (hash-pace.ts). */
  private readonly pace: HashPace
  private readonly log: Logger
  private readonly syncReadBytes: number
  private readonly vouched: VouchedChunks | undefined

  constructor(
    private readonly store: ChunkStore,
    private readonly catalog: StoreCatalog,
    options: ChunkSourceOptions = {},
  ) {
    this.log = options.log ?? silentLogger()
    this.syncReadBytes = options.syncReadBytes ?? 256 * 1024
    this.vouched = options.vouched
    this.pace = options.hashPace ?? new HashPace()
    this.checked = new CheckedStamps(store)
  }

  /** The entry for an id, or E_NOT_FOUND. */
  async entry(id: string): Promise<CatalogEntry> {
    const found = await this.catalog.lookup(id)
    if (!found) throw new P2PError('E_NOT_FOUND', `this peer has no file with id ${id.slice(0, 12)}…`)
    return found
  }

  /**
   * Chunk `index` of `entry` into `into` (exactly the chunk's length), verified
   * unless this exact file was verified before. Nothing keeps `into` once the
   * promise settles.
   */
  async readChunk(entry: CatalogEntry, index: number, into: Buffer): Promise<void> {
    const { dir, manifest } = entry
    const plan = planOf(manifest)
    if (index >= plan.chunkCount) {
      throw new P2PError('E_BAD_REQUEST', `index ${index} is out of range: the item has ${plan.chunkCount} chunks`)
    }
    const length = plan.chunkLength(index)
    if (into.length !== length)
      throw new P2PError('E_INTERNAL', `chunk ${index} is ${length} bytes, buffer ${into.length}`)
    const readAt = Date.now() // before the stat: what a stamp may be remembered for (checked-stamps.ts)
    const source = await this.open(dir, manifest, index)
    const { fd, path, key } = source
    try {
      const st = source.stats ?? fstatSync(fd, { bigint: true })
      const stamp = stampOf(st)
      const wrongSize = !st.isFile() || st.size !== BigInt(source.packed ? plan.packedSize : length)
      if (this.damaged.get(key) === stamp)
        throw this.refuseDamaged(index, manifest, wrongSize ? 'wrong size' : 'SHA-256 mismatch')
      if (wrongSize) {
        this.damaged.set(key, stamp)
        throw this.corrupt(path, key, index, manifest, 'wrong size')
      }
      // Asked before the read: a chunk a download accepts while we read may have been read before it was written.
      const vouched =
        source.vouched === true ||
        (source.packed && (await this.vouchedFor(entry, source, stamp, identityOf(st), index)))
      if ((await this.read(source, into, length, vouched && directChunkSize(manifest.chunkSize))) < length)
        throw this.corrupt(path, key, index, manifest, 'shrank while read')
      // The download's vouch stands for `data` as it writes it, whose stamp its own writes of other chunks change.
      if (vouched) return
      const known = await this.checked.has(entry.id, key, index, stamp)
      // Stat again after the read: a write that changed any byte we read updated the file's times first (the
      // kernel does before it copies), so it is here, or came after the read and is in none of our bytes. Its
      // times differ from the stamp's, as we remember a stamp only once settled (checked-stamps.ts; one split or
      // a download recorded is taken as they recorded it). Not caught: a write(2) whose times were set before our first stat and whose bytes land after our read (its
      // copy held back by page faults on its own buffer), and writes through a shared mapping to a page already
      // dirty, which change no time: only a process that can write the store can do either (security.md).
      const unchanged = stampOf(fstatSync(fd, { bigint: true })) === stamp
      if (known && unchanged) return
      this.stats.hashedChunks++
      // While chunks need hashing only now and then, no thread is started; the thread gets a pooled copy (hashing.ts).
      const digest = await hashThreads().digestPaced(into, this.pace, performance.now())
      if (digest !== plan.chunkHash(index)) {
        if (!unchanged) throw this.corrupt(path, key, index, manifest, 'changed while read')
        // Remembered only once settled: a write just made may still have been copying its bytes as we read them.
        if (settled(st.ctimeNs, st.size, readAt)) this.damaged.set(key, stamp)
        throw this.corrupt(path, key, index, manifest, 'SHA-256 mismatch')
      }
      if (unchanged) this.checked.checked(key, stamp, st, readAt)
    } finally {
      closeQuietly(fd)
    }
  }

  /**
   * The chunk's bytes. A packed `data` a download is still writing (`live`: it vouches for the chunk, and its chunk
   * size is one its writer writes direct) is read direct when the store says so (direct-io.ts), as it was written,
   * and synchronously, as a small page-cache read is: a direct read of 1 MiB holds this thread 0.5 ms here, and
   * through libuv's pool it held the chunk's buffer longer (median peak RSS of a 16-host round 98-100 against
   * 96-97 MB). Any other through the page cache, where a chunk many ask for stays.
   */
  private async read(source: OpenChunk, into: Buffer, length: number, live: boolean): Promise<number> {
    const directFd = live && source.packed && this.store.directIo ? reopenDirect(source.fd, false) : undefined
    if (directFd === undefined) return readFully(source.fd, into, length, source.offset, this.syncReadBytes)
    try {
      return readChunkSync({ fd: source.fd, directFd }, into, length, source.offset)
    } finally {
      closeQuietly(directFd)
    }
  }

  /**
   * Whether a download still writing the packed `data` (opened as `opened`)
   * verified and wrote chunk `index`: in this process, or else, unless this
   * server or the verified record knows the chunk good already (then it is
   * not hashed either way), in another (its `data.vouch`, read only then).
   */
  private async vouchedFor(
    entry: CatalogEntry,
    source: OpenChunk,
    stamp: string,
    opened: FileIdentity,
    index: number,
  ): Promise<boolean> {
    if (this.vouched?.has(source.path, opened, index) === true) return true
    if (await this.checked.has(entry.id, source.key, index, stamp)) return false
    return this.writerVouches.vouches(entry.dir, entry.id, planOf(entry.manifest).chunkCount, opened, index)
  }

  /**
   * The chunk's own file, or else the entry's packed `data` when `data.have`
   * lists the chunk; opened (and later stat'ed and closed) synchronously:
   * these take microseconds, less than a round trip through libuv's pool,
   * which dominated serving 64 KiB chunks (docs/benchmarks.md).
   */
  private async open(dir: string, manifest: ItemManifest, index: number): Promise<OpenChunk> {
    const data = packedDataPath(dir)
    const packed = (fd: number): OpenChunk => ({
      fd,
      path: data,
      offset: index * manifest.chunkSize,
      key: `${data}#${index}`,
      packed: true,
    })
    const live = this.vouchedOpen(data, index)
    if (live !== undefined) return { ...packed(live.fd), stats: live.stats, vouched: true }
    const path = this.store.chunkPath(dir, index)
    const missing = (): P2PError =>
      new P2PError('E_NOT_FOUND', `this peer does not have chunk ${index} of ${manifest.name}`)
    const own = openNoFollow(path, index)
    if (own !== undefined) return { fd: own, path, offset: 0, key: path, packed: false }
    if (!(await this.packedHave.get(dir, planOf(manifest).chunkCount))?.get(index)) throw missing()
    const fd = openNoFollow(data, index)
    if (fd === undefined) throw missing()
    return packed(fd)
  }

  /**
   * `data` opened, when the download writing it in this process vouches for
   * chunk `index` in the very file opened: then neither the chunk's own file
   * is looked for nor `data.have` read (it lags the download's own record by
   * its publish interval, and is read again after every publish). Else
   * undefined, with nothing left open.
   */
  private vouchedOpen(data: string, index: number): { fd: number; stats: BigIntStats } | undefined {
    if (this.vouched?.covers(data) !== true) return undefined
    let fd: number | undefined
    try {
      fd = openNoFollow(data, index)
    } catch {
      return undefined // the ordinary path meets the same error, or a chunk file of its own
    }
    if (fd === undefined) return undefined
    try {
      const stats = fstatSync(fd, { bigint: true })
      if (stats.isFile() && this.vouched.has(data, identityOf(stats), index)) return { fd, stats }
    } catch {
      // told apart on the ordinary path, which opens `data` again
    }
    closeQuietly(fd)
    return undefined
  }

  private corrupt(path: string, key: string, index: number, manifest: ItemManifest, why: string): P2PError {
    this.stats.corruptChunks++
    this.checked.forget(key)
    const line = this.damageLog.pass('store', true)
    if (line.log)
      this.log.warn(
        { path, index, name: manifest.name, why, ...heldBackFields(line) },
        'chunk on disk does not match its manifest; not serving it',
      )
    return this.refuseDamaged(index, manifest, why)
  }

  private refuseDamaged(index: number, manifest: ItemManifest, why: string): P2PError {
    return new P2PError('E_NOT_FOUND', `chunk ${index} of ${manifest.name} is damaged on this peer (${why})`)
  }
}
