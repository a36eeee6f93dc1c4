import { lstat } from 'node:fs/promises'
import { join } from 'node:path'
import { MANIFEST_FILE } from './constants.js'
import { stampOf } from './disk.js'
import { type ItemManifest, parseItemManifest } from './item.js'
import type { Logger } from './log.js'
import { manifestId } from './manifest.js'
import { isAbsent, readRegularFile, realDirectories } from './safe-fs.js'

/**
 * The manifests of a chunk store's entries (store.ts), each read from `<root>/<dirName>/manifest.json` and held
 * parsed, keyed by its path: read again only when the file's stamp changed, and dropped when it is gone, unreadable
 * or no longer listed by a scan. Never through a symlink: neither the manifest nor, unless a scan that follows no
 * link just listed it, its directory.
 */

export interface EntryManifest {
  id: string
  manifest: ItemManifest
  bytes: Buffer
}

export interface CachedManifest extends EntryManifest {
  /** stampOf the manifest file when it was read (a rewrite is a rename: a new inode, whatever its size and time). */
  stamp: string
}

export class EntryManifests {
  private readonly cache = new Map<string, CachedManifest>()

  constructor(
    private readonly root: string,
    private readonly maxManifestBytes: number,
    private readonly log: Logger,
  ) {}

  /** Manifests held parsed. */
  get size(): number {
    return this.cache.size
  }

  /** The manifest of entry `dirName`, or undefined; `checkDir` false when a scan that follows no link just listed the directory. */
  async read(dirName: string, checkDir: boolean): Promise<EntryManifest | undefined> {
    const path = join(this.root, dirName, MANIFEST_FILE)
    try {
      if (checkDir) await realDirectories(this.root, join(this.root, dirName))
      const st = await lstat(path, { bigint: true })
      const cached = this.cache.get(path)
      if (cached && st.isFile() && cached.stamp === stampOf(st)) return cached
      const bytes = await readRegularFile(path, { maxBytes: this.maxManifestBytes })
      // A folder's entry cap was applied on the way in (split or download); here its bytes bound the cost.
      const manifest = parseItemManifest(bytes, {
        maxBytes: this.maxManifestBytes,
        maxEntries: Number.MAX_SAFE_INTEGER,
      })
      const value = { stamp: stampOf(st), id: manifestId(bytes), manifest, bytes }
      this.cache.set(path, value)
      return value
    } catch (err) {
      if (!isAbsent(err)) this.log.warn({ path, err: (err as Error).message }, 'unreadable manifest; entry ignored')
      this.cache.delete(path)
      return undefined
    }
  }

  /** The manifest just written at `path`, held parsed so that the scans that follow do not parse it again. */
  remember(path: string, value: CachedManifest): void {
    this.cache.set(path, value)
  }

  /**
   * No more stays cached than a scan listed (`manifestDirs`): a long-running server of a store whose entries come
   * and go keeps no more. Pruned only when over (each scan for a change would otherwise make 10,000 paths to keep as
   * many).
   */
  prune(manifestDirs: readonly string[]): void {
    if (this.cache.size > manifestDirs.length) {
      const listed = new Set(manifestDirs.map((dirName) => join(this.root, dirName, MANIFEST_FILE)))
      for (const path of this.cache.keys()) if (!listed.has(path)) this.cache.delete(path)
    }
  }
}
