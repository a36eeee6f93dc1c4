import { createHash } from 'node:crypto'
import { lstat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { DEFAULT_MAX_MANIFEST_BYTES, MANIFEST_FILE, STORE_PRIVATE_DIR } from './constants.js'
import { stampOf, writeFileAtomic } from './disk.js'
import { fromFsError, P2PError } from './errors.js'
import type { ItemManifest } from './item.js'
import { acquireLock, acquireLockWaiting } from './lock.js'
import { type Collaborators, componentLog, type Logger, silentLogger } from './log.js'
import { makeDirectories } from './make-dirs.js'
import { manifestId } from './manifest.js'
import { lstatIfPresent, realDirectories } from './safe-fs.js'
import { sweepStaleTemps } from './stale-temps.js'
import { chunkFileName, entryDirCandidates, isChunkDataFile } from './store-layout.js'
import { listNames } from './store-listing.js'
import { type EntryManifest, EntryManifests } from './store-manifests.js'
import { loadStorePeerId } from './store-peer-id.js'
import { type ScannedDir, type StoreEntry, scanEntries } from './store-scan.js'
import { collisionKey } from './tree-paths.js'
import { currentStamps, readVerifiedStamps, type VerifiedSource, verifiedRecordPath } from './verified-record.js'

export { chunkFileName } from './store-layout.js'
export type { StoreEntry } from './store-scan.js'

/**
 * The chunk store on disk (its layout: store-layout.ts). Lookups go by id and
 * integer index only, never by a name from the network. A file that may be
 * read while it is written is written beside its name and renamed (or
 * linked) there, so a crash leaves either the old or the new file, never half
 * (but for a packed `data`, whose chunks count only once `data.have` lists them).
 * Chunk files are not fsynced (a torn one is caught by its hash before use).
 *
 * Nothing inside the store is reached through a symlink: an entry directory,
 * `.p2p/` or one of its subdirectories that is a link (or not a directory) is
 * ignored by scans and refused for writing; private files are read only when
 * they are regular files (safe-fs.ts), so a FIFO or device there never blocks.
 */

export interface ChunkStoreOptions {
  log?: Logger
  maxManifestBytes?: number
  /** Downloads' packed `data` written and read past the page cache where the filesystem allows (direct-io.ts; default on). */
  directIo?: boolean
}

export interface OpenStoreOptions {
  /** The store's directory (created if missing). */
  dir: string
  /** Largest manifest read from the store (default 32 MiB). */
  maxManifestBytes?: number
  /** See ChunkStoreOptions. */
  directIo?: boolean
}

/** The chunk store in `options.dir`, its directory created if missing. */
export async function openStore(options: OpenStoreOptions, collaborators: Collaborators = {}): Promise<ChunkStore> {
  const store = new ChunkStore(options.dir, {
    log: componentLog(collaborators, 'store'),
    maxManifestBytes: options.maxManifestBytes,
    directIo: options.directIo,
  })
  await store.init()
  return store
}

export class ChunkStore {
  readonly root: string
  /** Downloads' packed `data` written and read direct (ChunkStoreOptions). */
  readonly directIo: boolean
  private readonly log: Logger
  private readonly maxManifestBytes: number
  /** Entry manifests held parsed (store-manifests.ts). */
  private readonly manifests: EntryManifests
  /** Entry directories a scan could not read, warned of once each. */
  private readonly unreadable = new Set<string>()
  /** What the last scan found in each entry directory (store-scan.ts), for a scan told which are unchanged. */
  private lastScan = new Map<string, ScannedDir>()
  private scansStarted = 0
  private lastScanStarted = 0

  constructor(root: string, options: ChunkStoreOptions = {}) {
    this.root = root
    this.log = options.log ?? silentLogger()
    this.maxManifestBytes = options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES
    this.directIo = options.directIo ?? true
    this.manifests = new EntryManifests(root, this.maxManifestBytes, this.log)
  }

  async init(): Promise<void> {
    try {
      await makeDirectories(this.root)
    } catch (err) {
      throw fromFsError(err, `creating the chunk store ${this.root}`)
    }
  }

  entryDir(dirName: string): string {
    return join(this.root, dirName)
  }

  chunkPath(dir: string, index: number): string {
    return join(dir, chunkFileName(index))
  }

  /**
   * Every complete-or-partial entry (a directory holding a valid manifest),
   * with its have-set; with `unchanged`, an entry directory it says had no
   * event since the last scan is taken as that scan found it (store-scan.ts).
   */
  async scan(unchanged?: (dirName: string) => boolean): Promise<StoreEntry[]> {
    const started = ++this.scansStarted
    const last = this.lastScan // one scan's findings throughout, whatever another scan stores meanwhile
    const { entries, scanned, manifestDirs } = await scanEntries(
      {
        root: this.root,
        entryDir: (dirName) => this.entryDir(dirName),
        manifestIn: (dirName) => this.manifests.read(dirName, false),
        onUnreadable: (dirName, err) => this.warnUnreadable(dirName, err),
      },
      unchanged ? (dirName) => (unchanged(dirName) ? last.get(dirName) : undefined) : () => undefined,
    )
    this.manifests.prune(manifestDirs)
    // Scans may overlap (the announcer's, a server's): what the one started last found is the newest.
    if (started > this.lastScanStarted) {
      this.lastScan = scanned
      this.lastScanStarted = started
    }
    return entries
  }

  /** Once per directory: a scan runs up to four times a second. */
  private warnUnreadable(dirName: string, err: unknown): void {
    if (this.unreadable.has(dirName)) return
    this.unreadable.add(dirName)
    this.log.warn(
      { dir: this.entryDir(dirName), err: (err as Error).message },
      'unreadable directory in the store; left out',
    )
  }

  /** Manifests held parsed (at most one per entry the last scan listed, and those read since). */
  get cachedManifests(): number {
    return this.manifests.size
  }

  /**
   * The manifest in `<root>/<dirName>/manifest.json`, parsed and cached by
   * its file's stamp (store-manifests.ts: inode, size and times); undefined
   * if absent or invalid, or if the directory or the manifest is a symlink
   * (or not a directory / regular file).
   */
  async readEntryManifest(dirName: string): Promise<EntryManifest | undefined> {
    return this.manifests.read(dirName, true)
  }

  async get(id: string): Promise<StoreEntry | undefined> {
    return (await this.scan()).find((e) => e.id === id)
  }

  /**
   * The directory for an entry with this name and id: of the candidates
   * (store-layout.ts: the name, the id, then `<id>.2`, …), the first that
   * holds this id already, else the first free one (absent, or a directory of
   * nothing but chunks; not one holding other content, a file or a link).
   */
  async dirNameFor(name: string, id: string): Promise<string> {
    const candidates = entryDirCandidates(name, id)
    // One already holding it first: the copy a scan lists is then always the one a download writes into.
    for (const dirName of candidates) if ((await this.readEntryManifest(dirName))?.id === id) return dirName
    for (const dirName of candidates) if (await this.canHold(dirName, id)) return dirName
    throw new P2PError(
      'E_EXISTS',
      `no free entry directory for ${id.slice(0, 12)}… in ${this.root}: clean up the store`,
    )
  }

  /** Whether `<root>/<dirName>` holds this id already, or is free to (absent, or a real directory of nothing but chunks). */
  private async canHold(dirName: string, id: string): Promise<boolean> {
    const existing = await this.readEntryManifest(dirName)
    if (existing !== undefined) return existing.id === id
    const st = await lstatIfPresent(this.entryDir(dirName), `checking ${this.entryDir(dirName)}`)
    if (st === undefined) return true
    return st.isDirectory() && (await this.isEmptyOrChunkDir(dirName))
  }

  private async isEmptyOrChunkDir(dirName: string): Promise<boolean> {
    return (await listNames(join(this.root, dirName))).every(isChunkDataFile)
  }

  /** `<root>/<dirName>`, created if needed, its stale temporary files removed; E_IO when it is a symlink or not a directory. */
  async makeEntryDir(dirName: string): Promise<string> {
    const dir = this.entryDir(dirName)
    await realDirectories(this.root, dir, true).catch((err: unknown) => {
      throw fromFsError(err, `creating ${dir}`)
    })
    // What a killed split or download left here (a chunk being replaced, a copy of `data`) goes before more is written.
    const removed = await sweepStaleTemps(dir)
    if (removed > 0) this.log.info({ dir, removed }, 'stale temporary files removed')
    return dir
  }

  /**
   * Create (or reuse) the entry for a manifest received from a peer (and
   * parsed by the caller); returns its directory. The parsed manifest is
   * remembered for the file written, so the scans during the download do not
   * parse it again: a folder's second parse, on top of the first and of the
   * temporary tree's tables, was the peak of a download's memory.
   */
  async prepareEntry(manifestBytes: Buffer, manifest: ItemManifest): Promise<string> {
    const id = manifestId(manifestBytes)
    const dirName = await this.dirNameFor(manifest.name, id)
    const dir = await this.makeEntryDir(dirName)
    try {
      const current = await this.readEntryManifest(dirName)
      if (current?.id !== id) {
        const path = join(dir, MANIFEST_FILE)
        await writeFileAtomic(path, manifestBytes, { within: this.root })
        const stamp = stampOf(await lstat(path, { bigint: true }))
        this.manifests.remember(path, { stamp, id, manifest, bytes: manifestBytes })
      }
    } catch (err) {
      throw fromFsError(err, `preparing ${dir}`)
    }
    return dir
  }

  /** `<root>/.p2p/<sub>`, created if needed, every level a real directory. */
  private async privateDir(...sub: string[]): Promise<string> {
    const dir = join(this.root, STORE_PRIVATE_DIR, ...sub)
    await realDirectories(this.root, dir, true).catch((err: unknown) => {
      throw fromFsError(err, `creating ${dir}`)
    })
    return dir
  }

  /** This store's peer id (store-peer-id.ts): created once, the same for every command on the store. */
  async peerId(): Promise<string> {
    return loadStorePeerId(join(await this.privateDir(), 'peer-id'), this.root, this.log)
  }

  /** Lock the download of `id` in this store (lock.ts), or what `doing` says; returns the release. */
  async lock(id: string, what: string, doing?: string): Promise<() => Promise<void>> {
    return acquireLock(join(await this.privateDir('locks'), `${id}.lock`), what, doing)
  }

  /**
   * Lock the entry directory of `name` while a split writes it, or a download chooses it (lock.ts): two splits
   * of different files of one name wrote their chunks into one directory, and the manifest left listed the
   * other's chunk files; a split mid-way, its manifest withdrawn, left a directory a download took for free.
   * Keyed as names collide on a case-insensitive volume (`A.bin` and `a.bin` are one directory there). Held
   * by another, it is asked for again for up to `waitMs` (lock.ts acquireLockWaiting), then E_LOCKED.
   */
  async lockEntry(name: string, what: string, waitMs = 0, signal?: AbortSignal): Promise<() => Promise<void>> {
    const key = createHash('sha256').update(collisionKey(name)).digest('hex')
    return acquireLockWaiting(join(await this.privateDir('locks'), `entry-${key}.lock`), what, waitMs, signal)
  }

  /** Record that every chunk of this entry was just hashed and found right (verified-record.ts). */
  async recordVerified(id: string, dir: string, count: number, source: VerifiedSource): Promise<void> {
    const stamps = await currentStamps(dir, count, source, (index) => this.chunkPath(dir, index))
    try {
      await this.privateDir('verified')
      await writeFileAtomic(verifiedRecordPath(this.root, id), JSON.stringify(stamps), { within: this.root })
    } catch (err) {
      this.log.warn(
        { id, err: (err as Error).message },
        'verification record not written (chunks will be hashed before serving)',
      )
    }
  }

  /** Drop the record of `id`, whose entry a split of other content just replaced (best effort). */
  async forgetVerified(id: string): Promise<void> {
    await unlink(verifiedRecordPath(this.root, id)).catch(() => undefined)
  }

  /** The stamps recordVerified wrote for `id` (index → stamp), or none. */
  verifiedStamps(id: string): Promise<Array<string | null>> {
    // A stamp is under 64 bytes, a chunk's line in the manifest 67: twice the manifest limit is ample.
    return readVerifiedStamps(this.root, id, 2 * this.maxManifestBytes)
  }
}
