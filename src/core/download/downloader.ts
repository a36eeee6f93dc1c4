import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_CONNECTIONS_PER_PEER,
  DEFAULT_DOWNLOAD_BUFFER_BYTES,
  DEFAULT_MAX_DOWNLOAD_CONNECTIONS,
  DEFAULT_MAX_MANIFEST_BYTES,
  DEFAULT_MAX_STRIKES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_WAIT_MS,
  DEFAULT_WINDOW,
  MAX_CHUNK_SIZE,
} from '../constants.js'
import { hasCode, P2PError } from '../errors.js'
import { type ItemManifest, isTree, planOf } from '../item.js'
import { type Collaborators, componentLog } from '../log.js'
import { ConnectionPool, type PeerAddress, peerKey } from '../pool.js'
import type { ChunkStore } from '../store.js'
import { isRefusedUs } from '../transfer/allow-refusal.js'
import { PeerClient } from '../transfer/client.js'
import { DEFAULT_MAX_TREE_ENTRIES } from '../tree-manifest.js'
import type { Trust } from '../trust/trust.js'
import { ChunkBuffers } from './chunk-buffers.js'
import { ChunkFetch } from './chunk-fetch.js'
import {
  assertPathsFit,
  checkLimits,
  downloadsDirGoneInstead,
  notAllowedInstead,
  selectionOf,
} from './download-checks.js'
import type { StitchResult } from './final-name.js'
import { type DownloadJob, type DownloadLimits, maxRequests, type PeerDialer } from './job.js'
import { fetchManifest } from './manifest-fetch.js'
import { SharedDataChanged } from './packed-data.js'
import type { PeerReport } from './peer-record.js'
import { RefusedUs } from './refused-us.js'
import { assertRoom } from './room.js'
import type { TreeFileReceipt } from './tree-writer.js'
import { offeredIds, type RefusedPeer, TrustedPeers } from './trusted-peers.js'

export type { DownloadLimits, DownloadProgress, LivePeer, PeerDialer, PeerFinder } from './job.js'
export { PEER_PATIENCE_MS } from './peer-judge.js'
export type { PeerReport } from './peer-record.js'
export type { TreeFileReceipt } from './tree-writer.js'
export type { RefusedPeer } from './trusted-peers.js'

/**
 * One download: manifest (verified against the id), resume from the store,
 * chunks from every peer that has them through a pool of pipelined
 * connections, each verified and written once (hashed-writes.ts), into the
 * store entry's packed `data` (so a running p2p-serve offers it at once),
 * then the whole-file check, fsync and the final name (packed-writer.ts). The
 * manifest phase is manifest-fetch.ts, the chunk phase chunk-fetch.ts.
 */

export interface DownloadOptions extends Omit<DownloadJob, 'limits'> {
  /** Any left out take DEFAULT_DOWNLOAD_LIMITS. */
  limits?: Partial<DownloadLimits>
  /** Stops the download (it rejects with the signal's reason); a later download of the id resumes. */
  signal?: AbortSignal
  /** The manifest arrived (and was checked against the id): name, size and chunk count are known. */
  onManifest?: (manifest: ItemManifest) => void
  /** The clock deadlines are measured on (tests). */
  now?: () => number
  /**
   * Who we are and whom we accept (loadTrust): with `transport: 'encrypted'`, every connection is
   * encrypted and must reach the peer ID its peer announced. Absent: the plain transport.
   */
  trust?: Trust
  /** Dials the peers `peers` offers that are not TCP addresses (the DHT's: dht-peers.ts). */
  dialer?: PeerDialer
}

/** What a finished download did: where the file is, its SHA-256, and who delivered what. */
export interface DownloadReceipt extends StitchResult {
  id: string
  name: string
  size: number
  chunks: number
  seconds: number
  /** Bytes received from peers (duplicates and refused chunks included). */
  fetchedBytes: number
  /** Bytes the store already held, verified again. */
  resumedBytes: number
  /**
   * Who delivered what, and the peers asked that gave nothing, failed, lied or were written off; `peerId` when the
   * encrypted transport checked it; `via: 'dht'` and how for DHT peers.
   */
  peers: Array<PeerReport & { peerId?: string; via?: 'dht'; path?: string }>
  /** Peers heard of but never asked for anything (not in `peers`: a stranger's fresh ports made thousands). */
  idlePeers: number
  /** Peers whose connection was refused (another key answered, no swarm proof, not allowed, or they refused us). */
  refused: RefusedPeer[]
  /** A folder: its files as placed (those --only chose), each with its SHA-256, and how many directories. */
  files?: TreeFileReceipt[]
  dirs?: number
  /** A folder: entries added to a partial copy of it already at its name (an earlier `--only`), instead of "NAME (1)". */
  filledIn?: number
}

export const DEFAULT_DOWNLOAD_LIMITS: DownloadLimits = {
  window: DEFAULT_WINDOW,
  maxConnectionsPerPeer: DEFAULT_CONNECTIONS_PER_PEER,
  maxConnections: DEFAULT_MAX_DOWNLOAD_CONNECTIONS,
  connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
  requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
  maxManifestBytes: DEFAULT_MAX_MANIFEST_BYTES,
  maxEntries: DEFAULT_MAX_TREE_ENTRIES,
  waitMs: DEFAULT_WAIT_MS,
  maxStrikes: DEFAULT_MAX_STRIKES,
  maxBufferedBytes: DEFAULT_DOWNLOAD_BUFFER_BYTES,
}

/** Download the file `options.id` from the peers `options.peers` finds; resolves with the receipt once it has its final name. */
export async function download(options: DownloadOptions, collaborators: Collaborators = {}): Promise<DownloadReceipt> {
  const started = performance.now()
  const { id, store, downloadsDir, trust } = options
  const now = options.now ?? Date.now
  const log = componentLog(collaborators, 'download')
  const signal = options.signal ?? new AbortController().signal
  const limits: DownloadLimits = { ...DEFAULT_DOWNLOAD_LIMITS, ...options.limits }
  checkLimits(limits)
  // Chunk bodies land in pooled memory (chunk-buffers.ts), once the manifest says what size they are.
  let buffers: ChunkBuffers | undefined
  const trusted = new TrustedPeers(options.peers, trust, log)
  const refusers = new RefusedUs(now, trust?.identity.peerId, Boolean(trust?.allow ?? trust?.swarm))
  /** A peer's refusal of our key (allow-refusal.ts), on connect or later: used no more, and counted. */
  const onRefusedUs = (peer: PeerAddress, err: P2PError): void => {
    const peerId = err.details!.peerId as string
    trusted.refuse(peer, err.message, [peerId], true)
    refusers.add(peerKey(peer), peerId)
  }
  const pool = new ConnectionPool<PeerClient>({
    connect: (peer, connectSignal) => {
      const secure = trusted.secureOptionsFor(peer)
      const clientOptions = {
        host: peer.address,
        port: peer.port,
        connectTimeoutMs: limits.connectTimeoutMs,
        requestTimeoutMs: limits.requestTimeoutMs,
        maxBodyBytes: Math.max(limits.maxManifestBytes, MAX_CHUNK_SIZE),
        bodies: {
          take: (size: number) => buffers?.take(size) ?? Buffer.allocUnsafe(size),
          give: (body: Buffer) => buffers?.give(body),
        },
        log,
        ...(secure ? { secure } : {}),
      }
      const { dialer } = options
      const connecting = dialer?.handles(peer)
        ? PeerClient.overSession(dialer.dial(peer, secure, limits.connectTimeoutMs, connectSignal), clientOptions)
        : PeerClient.connect(clientOptions, connectSignal)
      return connecting.then(
        (client) => {
          if (client.remotePeerId !== undefined) trusted.reachedKey(peer, client.remotePeerId)
          client.onClose((err) => {
            if (isRefusedUs(err)) onRefusedUs(peer, err!)
          })
          return client
        },
        (err: unknown) => {
          // What this dial offered, not what the peer is named by now: announcements go on while it runs.
          const mismatch = err instanceof P2PError && err.details?.keyMismatch === true
          if (isRefusedUs(err)) onRefusedUs(peer, err as P2PError)
          else if (hasCode(err, 'E_AUTH')) trusted.refuse(peer, err.message, secure && offeredIds(secure, !mismatch))
          throw err
        },
      )
    },
    maxPerPeer: limits.maxConnectionsPerPeer,
    maxTotal: limits.maxConnections,
    maxLeasesPerConnection: limits.window,
    now,
    log,
  })
  const liars = new Map<string, string>()
  try {
    const source = await fetchManifest({
      id,
      store,
      pool,
      maxManifestBytes: limits.maxManifestBytes,
      maxEntries: limits.maxEntries,
      deadline: now() + limits.waitMs,
      now,
      log,
      signal,
      peers: () => trusted.peers(id).filter((p) => !liars.has(peerKey(p))),
      onLiar: (key, reason) => {
        liars.set(key, reason)
        log.warn({ peer: key, reason }, 'peer banned')
        options.dialer?.giveUp(key)
      },
      onLacking: (key) => options.dialer?.giveUp(key, true),
      waitForPeers: (ms) => trusted.waitForChange(ms),
      passedOver: () => trusted.otherTransport(id),
      refusedUs: refusers,
    }).catch((err: unknown) => {
      throw notAllowedInstead(err, trusted.notAllowed(id))
    })
    const { manifest } = source
    const plan = planOf(manifest)
    options.dialer?.manifestKnown(plan.chunkCount)
    trusted.knowChunkCount(id, plan.chunkCount)
    // Checked before anything touches the disk: a pattern that chooses nothing is an error.
    const selection = selectionOf(manifest, options.only)
    if (isTree(manifest)) assertPathsFit(manifest, selection?.chosen, downloadsDir)
    const size = selection?.bytes ?? plan.size
    options.onManifest?.(manifest)
    await assertRoom({ store, downloadsDir, id, manifest, size, chosen: selection?.chosen })
    const { dir, unlock } = await enterStore(store, source.bytes, manifest, id, limits.waitMs, signal)
    try {
      // Buffers in use at once: one per request in flight.
      const chunkBuffers = new ChunkBuffers(manifest.chunkSize, maxRequests(limits, manifest))
      buffers = chunkBuffers
      const begin = (keepShared: boolean): ChunkFetch => {
        const run = new ChunkFetch({
          ...options,
          peers: trusted,
          limits,
          manifest,
          dir,
          pool,
          buffers: chunkBuffers,
          log,
          signal,
          now,
          ...(selection ? { wanted: selection } : {}),
          ...(options.trust ? { selfPeerId: options.trust.identity.peerId } : {}),
          ...(source.peer ? { manifestPeer: source.peer } : {}),
          refusedUs: refusers,
          keepShared,
        })
        for (const [key, reason] of liars) run.scheduler.banNow(key, reason)
        if (source.from !== undefined) run.scheduler.vouch(source.from)
        return run
      }
      let run = begin(true)
      const stitched = await run
        .execute()
        .catch((err: unknown) => {
          if (!(err instanceof SharedDataChanged)) throw err
          log.warn({ index: err.index }, 'the finished file was changed since it was downloaded; checking a copy')
          run = begin(false)
          return run.execute()
        })
        .catch(async (err: unknown) => {
          throw await downloadsDirGoneInstead(err, downloadsDir)
        })
      const all = run.scheduler.report()
      const reported = all.filter((p) => p.bytes > 0 || p.banned || p.strikes > 0 || p.failures > 0 || p.writtenOff)
      return {
        ...stitched,
        id,
        name: manifest.name,
        size,
        chunks: selection?.chunks.count() ?? plan.chunkCount,
        seconds: (performance.now() - started) / 1000,
        fetchedBytes: run.fetchedBytes,
        resumedBytes: run.resumedBytes,
        peers: reported.map((p) => {
          const peerId = trusted.peerIdOf(p.key)
          return { ...p, ...(peerId ? { peerId } : {}), ...options.dialer?.describe(p.key) }
        }),
        idlePeers: run.scheduler.gone.forgotten + all.length - reported.length,
        refused: trusted.refused,
      }
    } finally {
      await unlock()
    }
  } finally {
    pool.close()
    trusted.close()
  }
}

/**
 * The entry directory this download writes into, and the lock on its id, taken under the name's entry lock
 * (the one a split holds while it writes; the lock order everywhere is the name's, then the id's): a split
 * mid-way, its manifest withdrawn, leaves a directory that looks free, and its chunks and ours would share
 * it. Held by another download choosing its directory, or by a split of that name, the name's lock is waited
 * for as long as the download waits for peers (`waitMs`), then E_LOCKED naming the holder.
 */
async function enterStore(
  store: ChunkStore,
  manifestBytes: Buffer,
  manifest: ItemManifest,
  id: string,
  waitMs: number,
  signal: AbortSignal,
): Promise<{ dir: string; unlock: () => Promise<void> }> {
  const what = `"${manifest.name}"`
  const unlockEntry = await store.lockEntry(manifest.name, what, waitMs, signal)
  try {
    const dir = await store.prepareEntry(manifestBytes, manifest)
    return { dir, unlock: await store.lock(id, what) }
  } finally {
    await unlockEntry()
  }
}
