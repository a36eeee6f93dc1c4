import type { Bitfield } from '../bitfield.js'
import { type ChunkPlan, type ItemManifest, isTree, layoutOf } from '../item.js'
import type { DownloadJob } from './job.js'
import type { LivePeers } from './live-peers.js'
import type { Scheduler } from './scheduler.js'
import type { StallWatch } from './stall-watch.js'

/** What the progress is of (chunk-fetch.ts's options): the item, a selection's chunks, and who is told. */
export interface ProgressSource extends Pick<DownloadJob, 'onProgress'> {
  manifest: ItemManifest
  /** A folder's selection (--only): the size told is that of its chunks. */
  wanted?: { chunks: Bitfield }
}

/**
 * What the chunk phase (chunk-fetch.ts) tells `onProgress` at each turn of
 * its loop: the bytes done and fetched, the peers in use, a folder's file
 * being worked on, our best place in an upload-slot line, and the chunks no
 * live peer has.
 */
export class FetchProgress {
  private wantedBytesCache: number | undefined
  /** A folder: the file the progress line names. */
  currentFile: string | undefined
  /** The latest chunk verified: a folder's file is named by it while none is being copied. */
  lastChunk = -1

  constructor(
    private readonly options: ProgressSource,
    private readonly plan: ChunkPlan,
    private readonly scheduler: Scheduler,
    private readonly stall: StallWatch,
    private readonly livePeers: LivePeers,
  ) {}

  /** Bytes of the chunks a selection asks for. */
  private wantedBytes(): number {
    if (this.wantedBytesCache === undefined) {
      let bytes = 0
      for (const i of this.options.wanted!.chunks.indices()) bytes += this.plan.chunkLength(i)
      this.wantedBytesCache = bytes
    }
    return this.wantedBytesCache
  }

  private fileField(): { file?: string } {
    if (!isTree(this.options.manifest)) return {}
    if (this.currentFile !== undefined) return { file: this.currentFile }
    if (this.lastChunk < 0) return {}
    const layout = layoutOf(this.options.manifest)
    return { file: layout.files[layout.fileOf(this.lastChunk)]!.path }
  }

  report(doneBytes: number, fetchedBytes: number): void {
    const peersInUse = this.livePeers.keys().filter((k) => this.scheduler.inFlight(k) > 0).length
    const linePlace = this.scheduler.bestLinePlace()
    this.options.onProgress?.({
      name: this.options.manifest.name,
      size: this.options.wanted ? this.wantedBytes() : this.plan.size,
      doneBytes,
      fetchedBytes,
      peersInUse,
      ...this.fileField(),
      ...(linePlace !== undefined ? { linePlace } : {}),
      ...(this.stall.current ? { stalled: this.stall.current } : {}),
    })
  }
}
