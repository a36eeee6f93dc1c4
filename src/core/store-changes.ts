import { readdir } from 'node:fs/promises'
import { basename } from 'node:path'
import { TEMP_MARKER } from './constants.js'
import { DirectoryWatches } from './directory-watches.js'
import type { Logger } from './log.js'
import { PACKED_DATA_FILE, PACKED_VOUCH_FILE } from './packed.js'
import type { ChunkStore } from './store.js'
import { isEntryDirName } from './store-layout.js'

/**
 * Tells its owner when what a chunk store holds may have changed: an entry
 * directory appearing or going, or, inside one, a manifest, a chunk file or
 * a `data.have` written. A running download's writes into `data` are not a
 * change (its `data.have` says which of them count), nor is its
 * `data.vouch` (which process checked them), nor are temporary files. The root and each entry directory are watched non-recursively
 * (directory-watches.ts); `refresh()` takes the watches of new entry
 * directories and drops those of entries gone, and is called before each
 * scan, so a change after the scan is always an event. Where a watch cannot
 * be had, changes are seen at the owner's next periodic scan.
 *
 * Which entry directories had an event is kept until `takeUnchanged`, so a
 * scan for a change reads only those (store.ts `scan`): an entry directory
 * whose name had an event in the root (made, removed, renamed) is watched
 * afresh at the next `refresh`; one without a watch, or just given one,
 * counts as changed; a root event that names nothing, or no root watch, as
 * a change of everything.
 */
export class StoreChanges {
  private readonly watches = new DirectoryWatches((dir) => {
    this.changedDir(dir)
    this.onChange()
  })
  /** Entry directories (by name) with an event since the last take. */
  private readonly changed = new Set<string>()
  /** Entry names the root had an event for: watched afresh (the directory may be a new one of the same name). */
  private readonly renamed = new Set<string>()
  /** Entry directories (by name) that could not be watched: never taken as unchanged. */
  private readonly unwatched = new Set<string>()
  /** Nothing can be told unchanged until the next take (not started, or an event that names nothing). */
  private everything = true
  /** The root is watched: without its events a directory made anew under an old name would go unseen. */
  private rootWatched = false

  constructor(
    private readonly store: ChunkStore,
    private readonly onChange: () => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.rootWatched = this.watchDir(this.store.root, (name) => {
      if (name === null) this.everything = true
      else {
        this.changed.add(name)
        this.renamed.add(name)
      }
      this.onChange()
    })
  }

  async refresh(): Promise<void> {
    const root = this.store.root
    const listed = await readdir(root, { withFileTypes: true }).catch(() => [])
    const dirs = new Set(
      listed.filter((d) => d.isDirectory() && isEntryDirName(d.name)).map((d) => this.store.entryDir(d.name)),
    )
    for (const dir of [...this.watches.dirs()])
      if (dir !== root && (!dirs.has(dir) || this.renamed.has(basename(dir)))) this.watches.unwatch(dir)
    for (const name of [...this.unwatched]) if (!dirs.has(this.store.entryDir(name))) this.unwatched.delete(name)
    this.renamed.clear()
    // A directory watched from now on had no watch until now: what happened in it before made no event.
    for (const dir of dirs)
      if (!this.watches.has(dir)) {
        this.watchDir(dir, this.onEntryEvent(basename(dir)))
        this.changed.add(basename(dir))
      }
  }

  /**
   * Whether an entry directory (by name) had no event since the last take,
   * for a scan that follows at once; undefined when that cannot be told.
   * What was recorded is cleared: an event from now on counts for the next.
   */
  takeUnchanged(): ((dirName: string) => boolean) | undefined {
    const changed = new Set([...this.changed, ...this.unwatched])
    const everything = this.everything
    this.changed.clear()
    this.everything = false
    return everything || !this.rootWatched ? undefined : (dirName) => !changed.has(dirName)
  }

  close(): void {
    this.watches.close()
  }

  private readonly onEntryEvent =
    (name: string) =>
    (file: string | null): void => {
      if (file === PACKED_DATA_FILE || file === PACKED_VOUCH_FILE || file?.includes(TEMP_MARKER)) return
      this.changed.add(name)
      this.onChange()
    }

  /** A watch was lost: its directory counts as changed (the root's: everything, from then on). */
  private changedDir(dir: string): void {
    if (dir === this.store.root) this.rootWatched = false
    else this.changed.add(basename(dir))
  }

  /** Whether `dir` is watched now. */
  private watchDir(dir: string, onEvent: (file: string | null) => void): boolean {
    const entry = dir !== this.store.root
    try {
      this.watches.watch(dir, onEvent)
      if (entry) this.unwatched.delete(basename(dir))
      return true
    } catch (err) {
      if (entry) this.unwatched.add(basename(dir))
      this.log.debug({ dir, err: (err as Error).message }, 'cannot watch the store; announcing on the interval only')
      return false
    }
  }
}
