import { unlink } from 'node:fs/promises'
import type { Bitfield } from '../bitfield.js'
import { P2PError, fromFsError, hasCode } from '../errors.js'
import { hashThreads } from '../hashing.js'
import { type Logger, silentLogger } from '../log.js'
import { type Manifest, chunkLength } from '../manifest.js'
import { BufferPool } from '../buffer-pool.js'
import { MAX_CHUNK_SIZE } from '../constants.js'
import { ConnectionPool, type PeerAddress, peerKey } from '../pool.js'
import { readPackedHave } from '../packed.js'
import { type ChunkStore, assertSpace, sameFilesystem } from '../store.js'
import { readRegularFile } from '../safe-fs.js'
import { PeerClient } from '../transfer/client.js'
import { fetchManifest } from './manifest-fetch.js'
import { type PeerReport, Scheduler } from './scheduler.js'
import { type StitchResult, Stitcher } from './stitcher.js'

/**
 * One download: manifest (verified against the id), resume from the store,
 * chunks from every peer that has them through a pool of pipelined
 * connections, each verified on the hash thread and written once, into the
 * store entry's packed `data` (so a running p2p-serve offers it at once),
 * then the whole-file check, fsync and the final name (stitcher.ts).
 */

export interface LivePeer extends PeerAddress {
  have: Bitfield
}

export interface DownloadLimits {
  /** Requests in flight per peer (the pipeline window). */
  window: number
  maxConnectionsPerPeer: number
  maxConnections: number
  connectTimeoutMs: number
  requestTimeoutMs: number
  maxManifestBytes: number
  /** How long to wait for a peer when some chunks have none (and for the manifest). */
  waitMs: number
  maxStrikes: number
  /** Chunk bytes in memory at once (requests in flight + chunks not yet written), whatever the peer count. */
  maxBufferedBytes: number
}

export interface DownloadProgress {
  name: string
  size: number
  doneBytes: number
  fetchedBytes: number
  peersInUse: number
  /** Set while some chunks have no live peer: their count and bytes. */
  stalled?: { chunks: number; bytes: number; first: number[] }
}

export interface DownloadOptions {
  id: string
  store: ChunkStore
  downloadsDir: string
  /** Live peers offering this id (address, TCP port, have-set). Called often; must be cheap. */
  peers: (id: string) => LivePeer[]
  /** Resolves when the peer view may have changed, or after `ms`. */
  waitForPeers: (ms: number) => Promise<void>
  limits: DownloadLimits
  force?: boolean
  log?: Logger
  signal?: AbortSignal
  now?: () => number
  onManifest?: (manifest: Manifest) => void
  onProgress?: (progress: DownloadProgress) => void
}

export interface DownloadResult extends StitchResult {
  id: string
  name: string
  size: number
  chunks: number
  seconds: number
  fetchedBytes: number
  resumedBytes: number
  peers: PeerReport[]
}

export const DEFAULT_DOWNLOAD_LIMITS: DownloadLimits = {
  window: 16, maxConnectionsPerPeer: 2, maxConnections: 64, connectTimeoutMs: 5000, requestTimeoutMs: 30_000,
  maxManifestBytes: 32 * 1024 * 1024, waitMs: 10_000, maxStrikes: 3, maxBufferedBytes: 32 * 1024 * 1024,
}

export async function download(o: DownloadOptions): Promise<DownloadResult> {
  const started = performance.now()
  const now = o.now ?? Date.now
  const log = o.log ?? silentLogger()
  const signal = o.signal ?? new AbortController().signal
  const limits = o.limits
  // Bodies land in pooled shared memory: no page faults on fresh buffers, and the hash thread reads them without a copy.
  const buffers = new BufferPool(256)
  const pool = new ConnectionPool<PeerClient>({
    connect: (peer, s) => PeerClient.connect({
      host: peer.address, port: peer.port, connectTimeoutMs: limits.connectTimeoutMs, requestTimeoutMs: limits.requestTimeoutMs,
      maxBodyBytes: Math.max(limits.maxManifestBytes, MAX_CHUNK_SIZE), allocateBody: (size) => buffers.take(size), log,
    }, s),
    maxPerPeer: limits.maxConnectionsPerPeer, maxTotal: limits.maxConnections, maxLeasesPerConnection: limits.window, now, log,
  })
  const liars = new Map<string, string>()
  try {
    const source = await fetchManifest({
      id: o.id, store: o.store, pool, maxManifestBytes: limits.maxManifestBytes, deadline: now() + limits.waitMs, now, log, signal,
      peers: () => o.peers(o.id).filter((p) => !liars.has(peerKey(p))),
      onLiar: (key, reason) => { liars.set(key, reason); log.warn({ peer: key, reason }, 'peer banned') },
      waitForPeers: o.waitForPeers,
    })
    const { manifest } = source
    o.onManifest?.(manifest)
    // Room for the chunks before any is fetched (what `data` holds already is not written again; chunk
    // files are copied into it); the final file is a hard link to `data`, or a copy on another filesystem.
    const entry = await o.store.get(o.id)
    const packed = entry ? (await readPackedHave(entry.dir, manifest.chunks.length))?.count() ?? 0 : 0
    await assertSpace(o.store.root, Math.max(0, manifest.size - packed * manifest.chunkSize), `the chunks of ${manifest.name}`)
    if (!(await sameFilesystem(o.store.root, o.downloadsDir))) await assertSpace(o.downloadsDir, manifest.size, manifest.name)
    const dir = await o.store.prepareEntry(source.bytes, manifest)
    const unlock = await o.store.lock(o.id, `"${manifest.name}"`)
    try {
      const run = new ChunkFetch(o, manifest, dir, pool, buffers, log, signal, now)
      for (const [key, reason] of liars) run.scheduler.banNow(key, reason)
      const stitched = await run.execute()
      return {
        ...stitched, id: o.id, name: manifest.name, size: manifest.size, chunks: manifest.chunks.length,
        seconds: (performance.now() - started) / 1000, fetchedBytes: run.fetchedBytes, resumedBytes: run.resumedBytes,
        peers: run.scheduler.report(),
      }
    } finally {
      await unlock()
    }
  } finally {
    pool.close()
  }
}

class ChunkFetch {
  readonly scheduler: Scheduler
  fetchedBytes = 0
  resumedBytes = 0
  private doneBytes = 0
  private stitcher!: Stitcher
  private readonly storing = new Set<Promise<unknown>>()
  private stopping = false
  private failure: unknown
  private stalledSince: number | undefined
  private peerWait: Promise<void> | undefined
  private wake: (() => void) | undefined

  constructor(
    private readonly o: DownloadOptions,
    private readonly manifest: Manifest,
    private readonly dir: string,
    private readonly pool: ConnectionPool<PeerClient>,
    private readonly buffers: BufferPool,
    private readonly log: Logger,
    private readonly signal: AbortSignal,
    private readonly now: () => number,
  ) {
    this.scheduler = new Scheduler(manifest.chunks.length, { maxStrikes: o.limits.maxStrikes, now })
    this.maxInFlight = Math.max(4, Math.floor(o.limits.maxBufferedBytes / Math.max(1, manifest.chunkSize)))
  }

  /** Requests in flight (until their chunk is verified and written): each holds a chunk-sized buffer. */
  private readonly maxInFlight: number
  private inFlight = 0

  async execute(): Promise<StitchResult> {
    this.stitcher = await Stitcher.open({ entryDir: this.dir, downloadsDir: this.o.downloadsDir, manifest: this.manifest })
    try {
      await this.resume()
      while (!this.scheduler.finished) {
        this.signal.throwIfAborted()
        if (this.failure !== undefined) throw this.failure
        this.refreshPeers()
        this.pump()
        this.checkStall()
        this.report()
        // One wait for the peer view at a time: a new one per wake-up (each finished chunk) piled up timers.
        this.peerWait ??= this.o.waitForPeers(250).finally(() => { this.peerWait = undefined })
        await Promise.race([this.peerWait, new Promise<void>((resolve) => { this.wake = resolve })])
      }
      await this.stopStoring() // endgame duplicates may still be on the hash thread
      if (this.failure !== undefined) throw this.failure
      this.report()
      const result = await this.stitcher.finish({ force: this.o.force })
      await this.o.store.recordVerified(this.o.id, this.dir, this.manifest.chunks.length, 'packed')
      return result
    } catch (err) {
      await this.stopStoring()
      await this.stitcher.close()
      throw err
    }
  }

  /**
   * No new writes into `data`, and none left on the hash thread: it writes by
   * descriptor, which must not be closed (and its number reused by another
   * file) while a write is pending.
   */
  private async stopStoring(): Promise<void> {
    this.stopping = true
    while (this.storing.size > 0) await Promise.allSettled([...this.storing])
  }

  /**
   * Chunks a previous run left in `data` (or a split left as chunk files, which
   * are copied into `data`) count only after their hash is checked again.
   */
  private async resume(): Promise<void> {
    const entry = await this.o.store.get(this.o.id)
    for (const index of entry?.have.indices() ?? []) {
      this.signal.throwIfAborted()
      const length = chunkLength(this.manifest, index)
      const inData = this.stitcher.inherited.get(index)
      const path = this.o.store.chunkPath(this.dir, index)
      let data: Buffer | undefined
      try {
        data = inData ? this.stitcher.read(index, this.buffers.take(length)) : await readRegularFile(path, { maxBytes: length })
      } catch {
        data = undefined
      }
      try {
        const expected = this.manifest.chunks[index]!
        // A chunk file goes into `data` the way a fetched chunk does: checked and written on the hash thread.
        const ok = data !== undefined && data.length === length
          && (inData ? await hashThreads().digest(data) : await this.store(data, index, expected)) === expected
        if (ok) {
          this.stitcher.accept(index, data!)
          this.scheduler.markDone(index)
          this.resumedBytes += length
          this.doneBytes += length
        } else {
          this.log.warn({ index }, 'chunk in the store failed verification; fetching it again')
          if (inData) this.stitcher.drop(index)
          else await unlink(path).catch(() => undefined)
        }
      } finally {
        if (data) this.buffers.give(data)
      }
    }
    if (this.resumedBytes > 0) this.log.info({ bytes: this.resumedBytes }, 'resumed from the chunk store')
  }

  private livePeers = new Map<string, LivePeer>()
  private peersRefreshed = -Infinity

  /** Follow peers joining, leaving and announcing new chunks; at most every 100 ms (it rebuilds the rarity order). */
  private refreshPeers(): void {
    if (this.now() - this.peersRefreshed < 100) return
    this.peersRefreshed = this.now()
    const current = new Map(this.o.peers(this.o.id).map((p) => [peerKey(p), p]))
    for (const [key, peer] of current) this.scheduler.setPeer(key, peer.have)
    for (const key of this.livePeers.keys()) {
      if (!current.has(key)) {
        this.scheduler.removePeer(key)
        this.log.info({ peer: key }, 'peer left')
      }
    }
    this.livePeers = current
  }

  private pump(): void {
    // Memory stays flat whatever the peer count or disk speed: a global cap on buffers in use.
    for (const [key, peer] of this.livePeers) {
      while (this.scheduler.inFlight(key) < this.o.limits.window && this.inFlight < this.maxInFlight) {
        const index = this.scheduler.next(key)
        if (index === undefined) break
        void this.fetch(key, peer, index)
      }
    }
  }

  private async fetch(key: string, peer: LivePeer, index: number): Promise<void> {
    let lease
    let data: Buffer | undefined
    this.inFlight++
    try {
      lease = await this.pool.acquire(peer, this.signal)
      data = await lease.connection.fetchChunk(this.o.id, index)
      lease.release()
      this.fetchedBytes += data.length
      if (this.stopping || this.scheduler.isDone(index)) return this.scheduler.discard(key, index) // an endgame duplicate, or too late
      const expected = this.manifest.chunks[index]!
      // Hash, and write into `data` only if it matches, on the hash thread.
      const ok = data.length === chunkLength(this.manifest, index) && (await this.store(data, index, expected)) === expected
      if (!ok) {
        const banned = this.scheduler.failed(key, index, 'checksum', `chunk ${index}`)
        this.log.warn({ peer: key, index, banned }, 'chunk failed SHA-256; fetching it elsewhere')
        if (banned) this.pool.closePeer(peer)
        return
      }
      if (this.scheduler.isDone(index)) return this.scheduler.discard(key, index)
      this.scheduler.succeeded(key, index, data.length)
      this.doneBytes += data.length
      const body = data
      data = undefined // back to the pool when the stitcher is done with it
      this.stitcher.accept(index, body, () => this.buffers.give(body))
    } catch (err) {
      lease?.release()
      if (this.signal.aborted) return
      if (hasCode(err) || (err as NodeJS.ErrnoException).code === undefined) this.onFetchError(key, index, err)
      else this.failure ??= fromFsError(err, `writing chunk ${index} to the store`)
    } finally {
      if (data) this.buffers.give(data)
      this.inFlight--
      this.wake?.()
    }
  }

  private store(data: Buffer, index: number, expected: string): Promise<string> {
    const job = hashThreads().digestAndStore(data, this.stitcher.target(index), expected)
    const tracked = job.catch(() => undefined).finally(() => this.storing.delete(tracked))
    this.storing.add(tracked)
    return job
  }

  private onFetchError(key: string, index: number, err: unknown): void {
    if (!hasCode(err)) {
      this.failure ??= err
      return
    }
    this.log.debug({ peer: key, index, code: err.code, err: err.message }, 'chunk request failed')
    if (err.code === 'E_NOT_FOUND') this.scheduler.failed(key, index, 'missing')
    else if (err.code === 'E_BUSY') this.scheduler.failed(key, index, 'error')
    else {
      this.scheduler.failed(key, index, 'error')
      this.scheduler.peerFailed(key)
    }
  }

  /** Some chunks with no live peer: say which, wait up to --wait for one, then give up with E_NO_PEER. */
  private checkStall(): void {
    const busy = [...this.livePeers.keys()].some((k) => this.scheduler.inFlight(k) > 0 || this.scheduler.readyIn(k) < Infinity && this.scheduler.readyIn(k) > 0)
    const missing = busy ? [] : this.scheduler.unavailable()
    if (missing.length === 0) {
      this.stalledSince = undefined
      return
    }
    this.stalledSince ??= this.now()
    if (this.now() - this.stalledSince < this.o.limits.waitMs) return
    const bytes = missing.reduce((sum, i) => sum + chunkLength(this.manifest, i), 0)
    const banned = this.scheduler.report().filter((p) => p.banned)
    const code = banned.length > 0 && this.livePeers.size <= banned.length ? 'E_CHECKSUM' : 'E_NO_PEER'
    throw new P2PError(code, `${missing.length} chunks (${bytes} bytes, first: ${missing.slice(0, 5).join(', ')}) have no live peer${banned.length ? ` (${banned.length} peer(s) banned for bad data)` : ''}; re-run when a seeder is back to resume`, { chunks: missing.length, bytes })
  }

  private report(): void {
    const missing = this.stalledSince === undefined ? [] : this.scheduler.unavailable()
    const peersInUse = [...this.livePeers.keys()].filter((k) => this.scheduler.inFlight(k) > 0).length
    this.o.onProgress?.({
      name: this.manifest.name, size: this.manifest.size, doneBytes: this.doneBytes, fetchedBytes: this.fetchedBytes, peersInUse,
      ...(missing.length > 0 ? { stalled: { chunks: missing.length, bytes: missing.reduce((s, i) => s + chunkLength(this.manifest, i), 0), first: missing.slice(0, 5) } } : {}),
    })
  }
}
