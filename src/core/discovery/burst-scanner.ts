import type { Logger } from '../log.js'
import { packedDataPath } from '../packed.js'
import type { StoreEntry } from '../store.js'
import { StoreChanges } from '../store-changes.js'
import { type AnnouncerOptions, RESCAN_MS } from './announcer-options.js'
import { BurstKinds } from './burst-kinds.js'

/**
 * What each of the announcer's bursts reads of its store (announcer.ts
 * says what they carry), and how it learns that the store changed: a split,
 * chunks a running download lists in its `data.have` (the store root and
 * each entry directory are watched, not what a download writes into
 * `data`), and what a download in this process wrote, which it says at once
 * through `live`. A burst reads again only the entry directories whose watch
 * saw a change; the whole store is read at start, after a failed burst and
 * every RESCAN_MS (burst-kinds.ts).
 */

/** One burst's reading of the store. */
export interface BurstScan {
  /** The entries announced, with what downloads in this process wrote since their last `data.have`. */
  entries: StoreEntry[]
  /** A burst of everything (at start, every interval, after a failed burst). */
  whole: boolean
}

export class BurstScanner {
  private readonly changes: StoreChanges
  private readonly kinds: BurstKinds
  private stopListening: (() => void) | undefined

  /** `changed` is called at each change of the store, and each time a download in this process writes. */
  constructor(
    private readonly options: Pick<AnnouncerOptions, 'store' | 'intervalMs' | 'rescanMs' | 'live'>,
    private readonly changed: () => void,
    log: Logger,
  ) {
    this.changes = new StoreChanges(options.store, () => this.changed(), log)
    this.kinds = new BurstKinds(Math.max(options.intervalMs, options.rescanMs ?? RESCAN_MS))
  }

  /** Watch the store, and hear what downloads in this process write. */
  start(): void {
    this.changes.start()
    this.stopListening = this.options.live?.onGrowth(() => this.changed())
  }

  close(): void {
    this.changes.close()
    this.stopListening?.()
  }

  /** The next burst announces everything (an interval's, or one for new interfaces). */
  interval(): void {
    this.kinds.interval()
  }

  /** A burst failed: its changes were taken, and what a whole burst refreshes was not sent: all, next time. */
  failed(): void {
    this.kinds.failed()
  }

  /** Read the store for the next burst, leaving out the entries `excluded` names. */
  async next(excluded: (id: string) => boolean): Promise<BurstScan> {
    await this.changes.refresh()
    const unchanged = this.changes.takeUnchanged()
    const { whole, rescan } = this.kinds.next()
    const scanned = await this.options.store.scan(rescan ? undefined : unchanged)
    const entries = scanned.filter((entry) => !excluded(entry.id))
    for (const entry of entries) this.addLive(entry)
    return { entries, whole }
  }

  /** What a download in this process wrote since its last `data.have`, added to the entry's have-set. */
  private addLive(entry: StoreEntry): void {
    const live = this.options.live?.haveOf(packedDataPath(entry.dir))
    if (live?.length === entry.have.length) entry.have.add(live) // another length: another manifest's writer
  }
}
