import type { Bitfield } from '../bitfield.js'
import { FIRST_DELIVERY_DEADLINE_MS } from '../constants.js'
import { fromFsError, hasCode } from '../errors.js'
import { type ChunkPlan, type ItemManifest, planOf } from '../item.js'
import type { Logger } from '../log.js'
import type { ConnectionPool, Lease } from '../pool.js'
import { isCollateral, isViolation, type PeerClient } from '../transfer/client.js'
import { notNowOf } from '../transfer/messages.js'
import type { ChunkBuffers } from './chunk-buffers.js'
import { fetchOrder, keptForProbes } from './fetch-order.js'
import { FetchProgress } from './fetch-progress.js'
import { type DownloadJob, type LivePeer, maxRequests, type PeerDialer } from './job.js'
import { LivePeers } from './live-peers.js'
import { PackedWriter, type StitchResult } from './packed-writer.js'
import type { RefusedUs } from './refused-us.js'
import { resumeChunks } from './resume.js'
import { Scheduler } from './scheduler.js'
import { StallWatch } from './stall-watch.js'

export interface ChunkFetchOptions extends DownloadJob {
  manifest: ItemManifest
  /** A folder's selection (--only): the chunks to fetch, and the entries to build. Default: everything. */
  wanted?: { chunks: Bitfield; chosen: readonly boolean[] }
  /** The store entry's directory. */
  dir: string
  pool: ConnectionPool<PeerClient>
  buffers: ChunkBuffers
  log: Logger
  signal: AbortSignal
  now: () => number
  /** Our own peer ID, as our announcements carry it (the scheduler's `selfPeerId`). */
  selfPeerId?: string
  /** The peer the manifest came from, as listed when it was asked: followed from the start (live-peers.ts). */
  manifestPeer?: LivePeer
  /** Told of each peer banned (a DHT key's place goes to another). */
  dialer?: Pick<PeerDialer, 'giveUp'>
  /** Check a finished file's `data` in place (packed-data.ts); false after it failed (SharedDataChanged). */
  keepShared?: boolean
  /** The peers that refused our key: when they are all there was, the stall watch ends on them. */
  refusedUs?: RefusedUs
}

/** The first-chunk deadline (FIRST_DELIVERY_DEADLINE_MS) allows a chunk at least this rate (bytes/s): 8 s for a 64 MiB chunk. */
const SLOWEST_FIRST_CHUNK_RATE = 8 * 1024 * 1024

/** Resolves after `ms` (at once when none), without keeping the process alive. */
const pause = (ms: number): Promise<void> | undefined =>
  ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms).unref()) : undefined

/**
 * The chunk phase of one download: resume what the store already holds, then
 * fetch every missing chunk from the live peers (live-peers.ts) through the
 * connection pool as the scheduler decides, each verified and written
 * (hashed-writes.ts), then the stitch (whole-file hash, fsync, final name).
 */
export class ChunkFetch {
  readonly scheduler: Scheduler
  fetchedBytes = 0
  resumedBytes = 0
  private doneBytes = 0
  private writer!: PackedWriter
  private failure: unknown
  private readonly stall: StallWatch
  private readonly livePeers: LivePeers
  private readonly progress: FetchProgress
  private peerWait: Promise<void> | undefined
  private wake: (() => void) | undefined

  private readonly manifest: ItemManifest
  private readonly plan: ChunkPlan
  private readonly pool: ConnectionPool<PeerClient>
  private readonly buffers: ChunkBuffers
  private readonly log: Logger
  private readonly signal: AbortSignal

  constructor(private readonly options: ChunkFetchOptions) {
    ;({ manifest: this.manifest, pool: this.pool, buffers: this.buffers, log: this.log, signal: this.signal } = options)
    const { limits, manifest } = options
    this.plan = planOf(manifest)
    this.scheduler = new Scheduler(this.plan.chunkCount, {
      maxStrikes: limits.maxStrikes,
      window: limits.window,
      maxDeadlineMs: limits.requestTimeoutMs,
      now: options.now,
      ...(options.selfPeerId !== undefined ? { selfPeerId: options.selfPeerId } : {}),
      firstDeadlineMs: Math.max(FIRST_DELIVERY_DEADLINE_MS, (manifest.chunkSize / SLOWEST_FIRST_CHUNK_RATE) * 1000),
    })
    this.maxInFlight = maxRequests(limits, manifest)
    this.stall = new StallWatch(
      this.scheduler,
      (i) => this.plan.chunkLength(i),
      limits.waitMs,
      options.now,
      options.refusedUs,
    )
    this.livePeers = new LivePeers({
      id: options.id,
      peers: options.peers,
      scheduler: this.scheduler,
      pool: options.pool,
      log: options.log,
      now: options.now,
      ...(options.manifestPeer ? { first: options.manifestPeer } : {}),
    })
    this.progress = new FetchProgress(options, this.plan, this.scheduler, this.stall, this.livePeers)
  }

  /** Requests in flight (until their chunk is verified and written): each holds a chunk-sized buffer. */
  private readonly maxInFlight: number
  private inFlight = 0
  /** Of those, requests to peers that have delivered nothing yet: at most half, so proven peers always have room. */
  private probes = 0
  private pumpTurn = 0
  private deadlineTimer: NodeJS.Timeout | undefined

  async execute(): Promise<StitchResult> {
    this.writer = await PackedWriter.open({
      entryDir: this.options.dir,
      downloadsDir: this.options.downloadsDir,
      manifest: this.manifest,
      id: this.options.id,
      chosen: this.options.wanted?.chosen,
      signal: this.signal,
      vouch: this.options.vouch,
      directIo: this.options.store.directIo,
      nameDecided: this.options.nameDecided,
      keepShared: this.options.keepShared,
      onFile: (path) => {
        this.progress.currentFile = path
      },
    })
    try {
      // Chunks outside the selection are never asked for.
      const wanted = this.options.wanted?.chunks
      if (wanted) for (let i = 0; i < this.plan.chunkCount; i++) if (!wanted.get(i)) this.scheduler.markDone(i)
      this.resumedBytes = await resumeChunks({
        ...this.options,
        writer: this.writer,
        wanted,
        onResumed: (index, bytes) => {
          this.scheduler.markDone(index)
          this.doneBytes += bytes
        },
      })
      while (!this.scheduler.finished) {
        this.signal.throwIfAborted()
        if (this.failure !== undefined) throw this.failure
        // A write that failed, a read back for the whole-file hash that failed, or a folder's tree that could
        // not be begun (its name was not decided for it): the rest of the chunks would be fetched for nothing.
        if (this.writer.failure !== undefined) throw this.writer.failure
        this.livePeers.refresh()
        await this.livePeers.dropOverdue()
        this.livePeers.closeWrittenOff()
        this.pump()
        this.stall.check(this.livePeers.keys())
        this.progress.report(this.doneBytes, this.fetchedBytes)
        // One wait for the peer view at a time: a new one per wake-up (each finished chunk) piled up timers. A
        // change heard before the view may be refreshed again waits until it may: waking at once did nothing but
        // run this loop (at N = 16 a download hears some sixty announcements a second).
        this.peerWait ??= this.options.peers
          .waitForChange(250)
          .then(() => pause(this.livePeers.refreshIn()))
          .finally(() => {
            this.peerWait = undefined
          })
        await Promise.race([
          this.peerWait,
          new Promise<void>((resolve) => {
            this.wake = resolve
            // And at the next deadline, to hedge or drop a peer that stopped delivering.
            const dueIn = this.scheduler.nextDeadlineIn()
            clearTimeout(this.deadlineTimer)
            if (dueIn < 250) this.deadlineTimer = setTimeout(resolve, dueIn + 1)
          }),
        ])
      }
      clearTimeout(this.deadlineTimer)
      if (this.failure !== undefined) throw this.failure
      this.progress.report(this.doneBytes, this.fetchedBytes)
      await this.options.nameDecided?.()
      // Endgame duplicates may still be hashing or writing: the writer lets them end first.
      const result = await this.writer.finish({
        force: this.options.force,
        beforeFinalName: this.options.beforeFinalName,
      })
      // A folder fetched in part has only those chunks to record; the others are hashed before they are served.
      if (!this.options.wanted)
        await this.options.store.recordVerified(this.options.id, this.options.dir, this.plan.chunkCount, 'packed')
      return result
    } catch (err) {
      clearTimeout(this.deadlineTimer)
      await this.writer.close()
      throw err
    }
  }

  /** A peer banned (for what it sent): its connections go, and a DHT key's place. */
  private banned(key: string, peer: LivePeer): void {
    this.pool.closePeer(peer)
    this.options.dialer?.giveUp(key)
  }

  private pump(): void {
    // Memory stays flat whatever the peer count or disk speed: a global cap on buffers in use. Peers that
    // have delivered nothing yet (perhaps never will) share half of it; each peer's window is the scheduler's.
    const maxProbes = Math.ceil(this.maxInFlight / 2)
    const keys = this.livePeers.keys()
    const kept = keptForProbes(keys, this.scheduler, maxProbes, this.probes)
    for (const key of fetchOrder(keys, this.scheduler, this.pumpTurn++)) {
      const peer = this.livePeers.get(key)!
      const probe = !this.scheduler.isProven(key)
      const cap = probe ? this.maxInFlight : this.maxInFlight - kept
      while (this.inFlight < cap && (!probe || this.probes < maxProbes)) {
        const index = this.scheduler.next(key)
        if (index === undefined) break
        void this.fetch(key, peer, index, probe)
      }
    }
  }

  private async fetch(key: string, peer: LivePeer, index: number, probe: boolean): Promise<void> {
    let lease: Lease<PeerClient> | undefined
    let data: Buffer | undefined
    this.inFlight++
    if (probe) this.probes++
    try {
      lease = await this.pool.acquire(peer, this.signal)
      // The expected length: a response declaring any other is refused before its body is read.
      data = await lease.connection.fetchChunk(this.options.id, index, this.plan.chunkLength(index))
      lease.release()
      this.scheduler.arrived(key, index)
      this.fetchedBytes += data.length
      if (this.writer.closing || this.scheduler.isDone(index)) return this.scheduler.discard(key, index) // an endgame duplicate, or too late
      // Hash, and write into `data` only if it matches (on the hash thread once chunks come fast). The thread
      // may have taken the chunk's memory: what comes back is the chunk from here on (and what goes back to
      // the pool).
      const verified = await this.writer.verifyAndWrite(index, data, this.plan.chunkHash(index))
      data = verified.data
      const outcome = verified.outcome
      if (outcome === 'closed') return this.scheduler.discard(key, index)
      if (outcome === 'mismatch') {
        const banned = this.scheduler.failed(key, index, 'checksum', `chunk ${index}`)
        this.log.warn({ peer: key, index, banned }, 'chunk failed SHA-256; fetching it elsewhere')
        if (banned) this.banned(key, peer)
        return
      }
      if (this.scheduler.isDone(index)) return this.scheduler.discard(key, index)
      this.scheduler.succeeded(key, index, data.length)
      this.doneBytes += data.length
      this.progress.lastChunk = index
      this.writer.accept(index, data)
    } catch (err) {
      lease?.release()
      if (this.signal.aborted) return
      // A store error has an errno code; anything else (a peer's, or a rejection with no error at all) is the fetch's.
      if (hasCode(err) || (err as NodeJS.ErrnoException | null | undefined)?.code === undefined)
        this.onFetchError(key, index, err)
      else this.failure ??= fromFsError(err, `writing chunk ${index} to the store`)
    } finally {
      if (data) this.buffers.give(data)
      this.inFlight--
      if (probe) this.probes--
      this.wake?.()
    }
  }

  private onFetchError(key: string, index: number, err: unknown): void {
    if (!hasCode(err)) {
      this.failure ??= err
      return
    }
    const notNow = notNowOf(err)
    const place = notNow?.place
    this.log.debug(
      { peer: key, index, code: err.code, err: err.message, ...(place ? { place } : {}) },
      'chunk request failed',
    )
    if (isViolation(err)) {
      // Its response broke the protocol (a wrong size, out of order, a bad frame): refused unread, a strike.
      const banned = this.scheduler.failed(key, index, 'protocol', err.message)
      this.log.warn(
        { peer: key, index, banned, err: err.message },
        'peer broke the protocol; fetching the chunk elsewhere',
      )
      const peer = this.livePeers.get(key)
      if (banned && peer) this.banned(key, peer)
    } else if (isCollateral(err)) this.scheduler.failed(key, index, 'cancelled')
    else if (err.code === 'E_NOT_FOUND') this.scheduler.failed(key, index, 'missing')
    else if (notNow !== undefined) this.scheduler.notNow(key, index, notNow.retryMs, place)
    else if (err.code === 'E_BUSY') this.scheduler.failed(key, index, 'error')
    else {
      this.scheduler.failed(key, index, 'error')
      this.scheduler.peerFailed(key)
    }
  }
}
