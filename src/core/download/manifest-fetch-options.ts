import type { ItemManifest } from '../item.js'
import type { Logger } from '../log.js'
import type { ConnectionPool, Lease, PeerAddress } from '../pool.js'
import type { ChunkStore } from '../store.js'
import type { PeerClient } from '../transfer/client.js'
import type { PassedOver } from './other-transport.js'
import type { RefusedUs } from './refused-us.js'

/**
 * What the manifest race (manifest-fetch.ts) is given and gives, and its pace: how many peers it asks at once,
 * how soon one more, when a failed one again, and when a slow one gives up its place.
 */

/** A peer the race may ask: `named`, one the user named (a share link's seeder): asked first, never made room of (manifest-candidates.ts). */
export type Candidate = PeerAddress & { named?: true }

export interface ManifestSource<P extends Candidate = Candidate> {
  bytes: Buffer
  /** A file's or a folder's (item.ts): checked in full before anything touches the disk. */
  manifest: ItemManifest
  /** The peer it came from; undefined when the store already had it. */
  from: string | undefined
  /** That peer as `peers()` listed it when it was asked (what it claimed then). */
  peer?: P
}

export interface ManifestFetchOptions<P extends Candidate = Candidate> {
  id: string
  store: ChunkStore
  pool: ConnectionPool<PeerClient>
  peers: () => P[]
  maxManifestBytes: number
  /** Most entries a folder's manifest may list. */
  maxEntries?: number
  deadline: number
  now: () => number
  log: Logger
  signal: AbortSignal
  onLiar: (key: string, reason: string) => void
  /** The peer said it has no such item (E_NOT_FOUND). */
  onLacking?: (key: string) => void
  waitForPeers: (ms: number) => Promise<void>
  /** The peers that have the file but were left out for the transport they announce: a race lost says so. */
  passedOver?: () => PassedOver
  /** The peers that refused our key: when no other is left to ask, the race ends on them (refused-us.ts). */
  refusedUs?: RefusedUs
}

/** Candidates asked at once at the start. */
export const FIRST_ASKED = 2
/** One more candidate every this long while none has answered (a hedged request). */
export const HEDGE_EVERY_MS = 250
/** Candidates asked at once, at most. */
export const MAX_ASKED = 8
/** A candidate that failed is asked again after this long. */
export const RETRY_AFTER_MS = 1000
/** An address whose candidate failed has its other candidates (other ports) asked after this long. */
export const ADDRESS_RETRY_MS = 250
/**
 * When every slot is taken and other candidates wait, an attempt that has
 * received less than this rate (bytes/s) since it was asked, after at least
 * SLOW_AFTER_MS, makes room: silent and trickling peers cannot hold the slots.
 */
export const MIN_RATE = 1024 * 1024
export const SLOW_AFTER_MS = 1000

/** One candidate asked in the race (manifest-fetch.ts). */
export interface RaceAttempt {
  abandon: AbortController
  /** A peer the user named: it keeps its slot until its own deadlines. */
  named: boolean
  lease: Lease<PeerClient> | undefined
  askedAt: number
  /** When the connection was ours (after connect and handshake): an arriving manifest's rate counts from here. */
  leasedAt: number | undefined
  /** The connection's bytesReceived when the request went out. */
  bytesAtAsk: number
}

/**
 * Some attempt is receiving its manifest at MIN_RATE or faster. The
 * deadline (--wait) bounds waiting for a peer to answer, not a large
 * manifest that is arriving: a 30 MB folder manifest on a loaded machine or
 * a slow link would otherwise be cut off at the deadline and reported as
 * not found. What bounds it then is the request's own timeout
 * (--request-timeout, 30 s by default: a peer that sends fast and then
 * stalls can overrun --wait by that much, no more). The rate counts from
 * when the connection was ours, so a slow connect or hole punch does not
 * count against it.
 */
export function arrivingAtRate(attempts: Iterable<RaceAttempt>, now: number): boolean {
  for (const attempt of attempts) {
    if (!attempt.lease || attempt.leasedAt === undefined) continue
    const received = attempt.lease.connection.bytesReceived - attempt.bytesAtAsk
    if (received > 0 && received >= (MIN_RATE * (now - attempt.leasedAt)) / 1000) return true
  }
  return false
}
