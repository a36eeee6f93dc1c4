import type { Bitfield } from '../bitfield.js'
import type { DhtPath, DhtSession } from '../dht/session.js'
import type { PeerAddress } from '../pool.js'
import type { ChunkStore } from '../store.js'
import type { SecureOptions } from '../trust/secure-socket.js'
import type { VouchedChunks } from '../vouched-chunks.js'
import type { Unavailable } from './chunk-choice.js'

/** What one download is asked to do, where it learns of peers, and what it reports: the types its phases share. */

/** A peer offering the file now, with the chunks it says it has (a claim: every chunk is verified). */
export interface LivePeer extends PeerAddress {
  have: Bitfield
  /** The peer ID it announced (the key an encrypted connection to it must reach). */
  peerId?: string
  /** Every peer ID its address was announced with lately, heard longest ago first (PeerSource.heard). */
  peerIds?: readonly string[]
  /** "noise": it speaks the encrypted transport; absent: the plain one (docs/protocol.md §5). */
  transport?: 'noise'
  /** Named by the user (a share link's seeder): the manifest race asks it first and never makes room of it. */
  named?: true
}

/**
 * Where a download learns who has its file: a PeerDirectory (discovery on
 * the LAN plus the dictionary file), or any other source of peers.
 */
export interface PeerFinder {
  /** Live peers offering this id. Called often (ten times a second); must be cheap. */
  peers(id: string): LivePeer[]
  /**
   * Resolves when the peers may have changed, after `ms` at the latest, or when `signal` aborts: a download
   * that has ended aborts it, so that no wait it left behind holds the process (its timer did, 0.1-0.25 s).
   */
  waitForChange(ms: number, signal?: AbortSignal): Promise<void>
  /** The manifest says file `id` has `chunkCount` chunks: a claim of another count is a lie from here on. */
  knowChunkCount?(id: string, chunkCount: number): void
}

/**
 * Peers reached otherwise than by TCP to an announced address (the DHT's,
 * dht-peers.ts): the download dials those through this, and tells it the
 * manifest's chunk count once known (what such a peer is taken to hold).
 */
export interface PeerDialer {
  handles(peer: PeerAddress): boolean
  dial(
    peer: PeerAddress,
    secure: SecureOptions | undefined,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<DhtSession>
  manifestKnown(chunkCount: number): void
  /** How the peer under this pool key was reached, for the receipt. */
  describe(key: string): { via: 'dht'; path?: DhtPath } | undefined
  /**
   * Nothing more is expected of the peer under this pool key (banned; `lacking`: it said it has no such item): a
   * DHT key's place goes to a key not yet tried. Not a peer written off for slowness: a topic holds more such keys
   * than places, so the download would go on trying them for ever, where it now ends.
   */
  giveUp(key: string, lacking?: boolean): void
}

export interface DownloadLimits {
  /** Requests in flight per peer at most (the pipeline window; a peer earns it by delivering). */
  window: number
  maxConnectionsPerPeer: number
  maxConnections: number
  connectTimeoutMs: number
  /** The longest any request may take (per-peer deadlines adapt to delivery below it). */
  requestTimeoutMs: number
  maxManifestBytes: number
  /** Most entries a folder's manifest may list (more is E_BAD_MANIFEST before anything is written). */
  maxEntries: number
  /** How long to wait for a peer when some chunks have none (and for the manifest). */
  waitMs: number
  maxStrikes: number
  /** Chunk bytes in memory at once (requests in flight + chunks not yet written), whatever the peer count. */
  maxBufferedBytes: number
}

export interface DownloadProgress {
  name: string
  size: number
  /** Bytes verified so far (resumed or fetched). */
  doneBytes: number
  /** Bytes received from peers so far (duplicates and bad chunks included). */
  fetchedBytes: number
  peersInUse: number
  /** A folder: the path of the file the latest verified chunk belongs to, or being copied into place. */
  file?: string
  /** Set while a peer says "not now" with our place in its upload-slot line: the best such place. */
  linePlace?: number
  /** Set while some chunks have no live peer: their count and bytes, and the first few. */
  stalled?: Unavailable
}

/** What a download is asked to do, and where its peers come from. */
export interface DownloadJob {
  /** The file's id: the SHA-256 of its manifest. */
  id: string
  /** The chunk store the download resumes from and writes into (and seeds from). */
  store: ChunkStore
  /** Where the finished file gets its name. */
  downloadsDir: string
  peers: PeerFinder
  limits: DownloadLimits
  /** Replace a different file at the final name instead of saving as `name (1).ext`. */
  force?: boolean
  onProgress?: (progress: DownloadProgress) => void
  /**
   * A folder: fetch only the entries these globs choose (tree-select.ts);
   * the chunks of the other files are never asked for. Refused for a file.
   */
  only?: readonly string[]
  /** Called once the verified file is `<name>.part` in the downloads directory, before its final name is claimed (fault-injection tests). */
  beforeFinalName?: () => void | Promise<void>
  /**
   * Awaited before anything is made in the downloads directory: by a file once every chunk is in (before its
   * `.part`), by a folder before its temporary tree is begun (its chunks come in meanwhile: deferred-tree.ts).
   * A download started before the caller has decided it wants this item fetches into the store meanwhile, and
   * is stopped when it throws (p2p-download NAME, cli/by-name.ts). Called more than once (a folder asks for it
   * as it starts, and again once its chunks are in): every call must settle the same way, as one promise does.
   */
  nameDecided?: () => Promise<void>
  /** A chunk server in this process (`--seed`) serves the chunks this download verified without hashing them again. */
  vouch?: VouchedChunks
}

/** Requests in flight across all peers: what the buffer limit holds in chunk-sized buffers (at least 4). */
export function maxRequests(limits: DownloadLimits, manifest: { chunkSize: number }): number {
  return Math.max(4, Math.floor(limits.maxBufferedBytes / Math.max(1, manifest.chunkSize)))
}
