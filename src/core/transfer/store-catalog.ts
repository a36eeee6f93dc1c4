import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { MANIFEST_FILE } from '../constants.js'
import { DirectoryWatches } from '../directory-watches.js'
import type { ItemManifest } from '../item.js'
import { type Logger, silentLogger } from '../log.js'
import type { ChunkStore } from '../store.js'
import { isEntryDirName, isPreferredCopy } from '../store-layout.js'

/**
 * The server's map from file id to entry (directory and manifest), kept
 * current by watching the store instead of rescanning it on every request
 * for an id it does not know: a stranger asking for random ids must cost
 * a seeder almost nothing.
 *
 * What can change the map is a manifest appearing, changing or going, and
 * an entry directory appearing or going. So the store root and each entry
 * directory are watched (non-recursively, directory-watches.ts; Node 20's
 * recursive watch on Linux adds one per file, 30,000 for a store of 30,000
 * chunks). An event marks the map stale; the next miss rescans (at
 * most one scan per `rescanMs`), and a hit is served from the map as it is
 * (starting a rescan in the background if one is due).
 * A scan reads one directory listing and one manifest stamp per entry, never
 * the chunk files. Where a watch cannot be had (inotify limits, another
 * filesystem), every miss may rescan, as before; and every `fallbackMs` the
 * map is marked stale anyway, in case an event was lost.
 */

export interface CatalogEntry {
  readonly id: string
  readonly dir: string
  readonly manifest: ItemManifest
  readonly manifestBytes: Buffer
}

export interface StoreCatalogOptions {
  /** At most one scan per this long. */
  rescanMs?: number
  /** Mark the map stale this often even when no event came. */
  fallbackMs?: number
  log?: Logger
}

export class StoreCatalog {
  private entries = new Map<string, CatalogEntry>()
  private stale = true
  /** Every directory that matters is watched; when false, every miss may rescan. */
  private watched = true
  private readonly watches = new DirectoryWatches((dir) => {
    // The directory went away (or the watch broke): the next scan decides.
    if (dir === this.store.root) this.watched = false
    this.markStale()
  })
  private scanning: Promise<void> | undefined
  private lastScan = 0
  private fallback: NodeJS.Timeout | undefined
  private closed = false
  private readonly rescanMs: number
  private readonly fallbackMs: number
  private readonly log: Logger
  /** Scans done, for the stats. */
  scans = 0

  constructor(
    private readonly store: ChunkStore,
    options: StoreCatalogOptions = {},
  ) {
    this.rescanMs = options.rescanMs ?? 250
    this.fallbackMs = options.fallbackMs ?? 10_000
    this.log = options.log ?? silentLogger()
  }

  get size(): number {
    return this.entries.size
  }

  /** First scan, then watch. */
  async open(): Promise<void> {
    this.watched = this.watchDir(this.store.root, (file) => {
      // An entry directory created, removed or renamed: the one of that name may be another
      // directory now, so its watch is dropped and taken again by the next scan.
      if (file !== null) this.unwatch(this.store.entryDir(file))
      this.markStale()
    })
    await this.rescan(true)
    this.fallback = setInterval(() => this.markStale(), this.fallbackMs).unref()
  }

  close(): void {
    this.closed = true
    clearInterval(this.fallback)
    this.watches.close()
  }

  /** The entry for an id; a miss rescans first only when the store may have changed since the last scan. */
  async lookup(id: string): Promise<CatalogEntry | undefined> {
    const found = this.entries.get(id)
    if (found && this.stale && !this.closed) void this.rescan(false) // served as known; an entry removed meanwhile goes soon
    if (found || this.closed || (!this.stale && this.watched)) return found
    await this.rescan(false)
    return this.entries.get(id)
  }

  private markStale(): void {
    this.stale = true
  }

  /** In an entry directory only the manifest matters (chunk files are looked at per request). */
  private readonly onEntryEvent = (file: string | null): void => {
    if (file === null || file === MANIFEST_FILE) this.markStale()
  }

  private unwatch(dir: string): void {
    if (dir !== this.store.root) this.watches.unwatch(dir)
  }

  private rescan(force: boolean): Promise<void> {
    if (this.scanning) return this.scanning
    const wait = force ? 0 : Math.max(0, this.lastScan + this.rescanMs - Date.now())
    this.scanning = new Promise<void>((resolve) => setTimeout(resolve, wait))
      .then(() => this.scan())
      .catch((err: unknown) => {
        this.log.error({ err: (err as Error).message }, 'store scan failed')
      })
      .finally(() => {
        this.lastScan = Date.now()
        this.scanning = undefined
      })
    return this.scanning
  }

  private async scan(): Promise<void> {
    if (this.closed) return
    this.stale = false // events from here on mark it stale again
    this.scans++
    const found = new Map<string, CatalogEntry & { dirName: string }>()
    const dirs = new Set<string>()
    for (const listed of await readdir(this.store.root, { withFileTypes: true })) {
      // Symlinks are not directories here: a link never leads a scan outside the store.
      if (!listed.isDirectory() || !isEntryDirName(listed.name)) continue
      const dir = this.store.entryDir(listed.name)
      dirs.add(dir)
      // Watch before reading, so a manifest written after the read is an event.
      if (!this.watches.has(dir) && !this.watchDir(dir, this.onEntryEvent)) this.watched = false
      const st = await lstat(join(dir, MANIFEST_FILE)).catch(() => undefined)
      if (!st?.isFile()) continue
      const loaded = await this.store.readEntryManifest(listed.name)
      if (loaded === undefined) continue
      // Two directories holding one id (a copy made by hand): the one a scan announces (isPreferredCopy).
      const current = found.get(loaded.id)
      if (current === undefined || isPreferredCopy(listed.name, current.dirName, loaded.manifest.name, loaded.id))
        found.set(loaded.id, {
          id: loaded.id,
          dir,
          dirName: listed.name,
          manifest: loaded.manifest,
          manifestBytes: loaded.bytes,
        })
    }
    for (const dir of [...this.watches.dirs()]) if (!dirs.has(dir)) this.unwatch(dir)
    if (!this.closed) this.entries = found
  }

  /** Watch one directory; false when the system will not (the caller falls back to rescanning on misses). */
  private watchDir(dir: string, onEvent: (file: string | null) => void): boolean {
    if (this.closed) return false
    try {
      this.watches.watch(dir, onEvent)
      return true
    } catch (err) {
      if (this.watched)
        this.log.warn(
          { dir, err: (err as Error).message },
          'cannot watch the store; unknown ids will rescan it (at most every rescan interval)',
        )
      return false
    }
  }
}
