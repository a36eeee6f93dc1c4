import type { DhtSettings } from '../dht/node.js'
import type { Logger } from '../log.js'
import type { Trust } from '../trust/trust.js'

/** What a download's DHT peers (dht-peers.ts) are given and report, and their pace: lookups, dial deadlines. */

export const DEFAULT_LOOKUP_EVERY_MS = 10_000
export const FIRST_RETRY_MS = 1_000
/**
 * Until the manifest is known and while keys found are being dropped, lookups come every second (not every
 * 10 s), at most this many in a download: a topic flooded with dead keys is sampled again and again.
 */
export const MAX_SEARCHING_LOOKUPS = 120
export const SEARCHING_LOOKUP_EVERY_MS = 1_000

export interface DhtPeersOptions {
  id: string
  trust: Trust
  dht: DhtSettings
  lookupEveryMs?: number
  /** Peer IDs the user named (a share link's seeder): dialled first, by key, before and beside any lookup. */
  named?: readonly string[]
  log?: Logger
}

export interface DhtLookupStats {
  lookups: number
  /** DHT nodes that answered a lookup. */
  replies: number
  peersFound: number
  topic: string
  bootstrap: string
}

export const MIN_DHT_CONNECT_MS = 15_000
