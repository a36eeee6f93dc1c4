import { readdir } from 'node:fs/promises'
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
 */
export class StoreChanges {
  private readonly watches = new DirectoryWatches(() => this.onChange())

  constructor(
    private readonly store: ChunkStore,
    private readonly onChange: () => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.watchDir(this.store.root, () => this.onChange())
  }

  async refresh(): Promise<void> {
    const root = this.store.root
    const listed = await readdir(root, { withFileTypes: true }).catch(() => [])
    const dirs = new Set(
      listed.filter((d) => d.isDirectory() && isEntryDirName(d.name)).map((d) => this.store.entryDir(d.name)),
    )
    for (const dir of [...this.watches.dirs()]) if (dir !== root && !dirs.has(dir)) this.watches.unwatch(dir)
    for (const dir of dirs) if (!this.watches.has(dir)) this.watchDir(dir, this.onEntryEvent)
  }

  close(): void {
    this.watches.close()
  }

  private readonly onEntryEvent = (file: string | null): void => {
    if (file === PACKED_DATA_FILE || file === PACKED_VOUCH_FILE || file?.includes(TEMP_MARKER)) return
    this.onChange()
  }

  private watchDir(dir: string, onEvent: (file: string | null) => void): void {
    try {
      this.watches.watch(dir, onEvent)
    } catch (err) {
      this.log.debug({ dir, err: (err as Error).message }, 'cannot watch the store; announcing on the interval only')
    }
  }
}
