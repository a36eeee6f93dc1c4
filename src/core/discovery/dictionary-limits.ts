import { MiB } from '../constants.js'

/** What the content dictionary (dictionary.ts) holds at most, and what a claim counts for against it. */
export interface DictionaryLimits {
  maxFiles: number
  maxPeers: number
  /** Claims (peers) kept per file id. */
  maxPeersPerFile: number
  /** Peers (ports) one source address may hold: a single host flooding fake peers only evicts its own. */
  maxPeersPerAddress: number
  /** Bytes of claims held in all. */
  maxBytes: number
  /** Bytes of claims one source address may hold. */
  maxBytesPerAddress: number
}

export const DEFAULT_DICTIONARY_LIMITS: DictionaryLimits = {
  maxFiles: 10_000,
  maxPeers: 1_000,
  maxPeersPerFile: 256,
  maxPeersPerAddress: 16,
  maxBytes: 32 * MiB,
  // A store of 10,000 files announced from one host (~21 MB of claims) fits; a flooding host still evicts its own.
  maxBytesPerAddress: 24 * MiB,
}

/**
 * What a claim costs beside its name and have-set: its objects, strings and map entries, as measured (1.6 KB of
 * heap for a claim on a known file, 2.0 KB for one that brings a new file), rounded up. At 256, the caps let
 * claims of "all" hold ~7 times their bytes (a download's own listener reached ~150 MB under a flood).
 */
export const CLAIM_OVERHEAD_BYTES = 2048

/**
 * The most have-set memory one address may have made at once (and a quarter of it a second): what a flood of
 * claims that evict each other can allocate, whatever its byte cap (which a 10,000-file store must fit).
 */
export const HAVE_BURST_PER_ADDRESS = 4 * MiB

/** What a claim counts for: CLAIM_OVERHEAD_BYTES, twice its name's length (UTF-16) and its have-set's bytes. */
export function claimCost(name: string, haveBytes: number): number {
  return CLAIM_OVERHEAD_BYTES + 2 * name.length + haveBytes
}
