import type { Bitfield } from '../bitfield.js'
import { P2PError } from '../errors.js'
import type { TreeManifest } from '../tree-manifest.js'
import type { PackedWriterOptions } from './packed-writer-options.js'
import { TreeBuilder, type TreeBuilderOptions, type TreeBuilt } from './tree-writer.js'

/**
 * A folder's tree (tree-writer.ts), begun only once `ready` resolves: a
 * download by name fetches the folder's chunks into the store while the
 * name is still being decided, and makes nothing in the downloads directory
 * before that (cli/by-name.ts). Chunks accepted before the tree exists are
 * handed to it, from `have`, the moment it does; after that each is handed
 * on as it comes. The one owner of the TreeBuilder: it is either finished
 * or abandoned, once, whichever of `finish`, `abandon` and a stop during its
 * start comes first.
 */
export class DeferredTree {
  private builder: TreeBuilder | undefined
  private readonly starting: Promise<TreeBuilder | undefined>
  private finished = false
  private abandoned = false
  /** `ready` resolved: the tree is being made, or was. */
  private begun = false
  /** Stops the making of the tree (100,000 empty files take seconds) when the download stops for any reason. */
  private readonly stop = new AbortController()
  /** Why the tree could not be begun (`ready` threw, or making it failed); the download stops with it. */
  failure: unknown

  constructor(
    options: TreeBuilderOptions,
    have: Bitfield,
    ready: () => Promise<void>,
    onFile?: (path: string) => void,
  ) {
    this.starting = (async () => {
      await ready()
      if (this.abandoned) return undefined
      this.begun = true
      const signal = options.signal ? AbortSignal.any([options.signal, this.stop.signal]) : this.stop.signal
      const builder = await TreeBuilder.start({ ...options, signal })
      if (this.abandoned) {
        await builder.abandon()
        return undefined
      }
      builder.onFile = onFile
      for (const index of have.indices()) builder.chunkDone(index)
      this.builder = builder
      return builder
    })()
    this.starting.catch((err: unknown) => {
      this.failure ??= err
    })
  }

  /**
   * The tree of a folder a packed writer (packed-writer.ts) downloads with `options`, its files copied out of `data`
   * through `data`'s reads, begun once `options.nameDecided` resolves (at once without it).
   */
  static ofDownload(
    options: PackedWriterOptions,
    manifest: TreeManifest,
    have: Bitfield,
    data: {
      readAsync(into: Buffer, length: number, position: number): Promise<void>
      readAt(into: Buffer, length: number, position: number): void
    },
  ): DeferredTree {
    return new DeferredTree(
      {
        manifest,
        id: options.id ?? '',
        chosen: options.chosen,
        signal: options.signal,
        downloadsDir: options.downloadsDir,
        entryDir: options.entryDir,
        read: (into, length, position) => data.readAsync(into, length, position),
        readSync: (into, length, position) => data.readAt(into, length, position),
      },
      have,
      options.nameDecided ?? (async () => undefined),
      options.onFile,
    )
  }

  /** Global chunk `index` is verified and in `data` (each index once). */
  chunkDone(index: number): void {
    this.builder?.chunkDone(index)
  }

  /** Every chosen file copied and checked: the tree's final name (tree-writer.ts). */
  async finish(beforeFinalName?: () => void | Promise<void>): Promise<TreeBuilt> {
    this.finished = true
    const builder = await this.starting
    if (builder === undefined) throw new P2PError('E_INTERNAL', 'the folder was abandoned before it was finished')
    return builder.finish(beforeFinalName)
  }

  /**
   * The download stops: a tree begun is removed (its copies let end first);
   * one not yet begun never will be, and the stop does not wait for `ready`
   * (a decision that never comes must not hold the download); after
   * `finish`, nothing (it placed or removed the tree).
   */
  async abandon(): Promise<void> {
    if (this.finished || this.abandoned) return
    this.abandoned = true
    if (!this.begun) return
    this.stop.abort(new P2PError('E_INTERRUPTED', 'the download stopped'))
    const builder = await this.starting.catch(() => undefined)
    await builder?.abandon()
  }
}
