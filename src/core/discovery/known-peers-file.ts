import { dirname, join } from 'node:path'
import { z } from 'zod/v3'
import { KiB } from '../constants.js'
import type { Logger } from '../log.js'
import { isAbsent, readRegularFile } from '../safe-fs.js'
import { canonicalAddress, isQueryableAddress } from './unicast-address.js'

/**
 * known_peers.json: its format, bounds and reader (the cache that keeps it
 * is known-peers.ts).
 *
 *   {"version":1,"peers":[{"address":"192.168.1.20","port":47011,"peer":"9f2c…",
 *                          "lastSeen":"2026-11-30T10:00:00.000Z","misses":0,
 *                          "addedAt":"2026-11-29T08:00:00.000Z"}]}
 *
 * Read as a regular file of at most MAX_KNOWN_PEERS_FILE_BYTES, not
 * following a link and without blocking: a corrupt, huge, symlinked or FIFO
 * file is ignored with a warning; each entry is validated on its own.
 */

export const KNOWN_PEERS_FILE = 'known_peers.json'
export const KNOWN_PEERS_VERSION = 1
export const MAX_KNOWN_PEERS = 64
export const MAX_KNOWN_PEERS_FILE_BYTES = 64 * KiB
export const KNOWN_PEER_TTL_MS = 30 * 24 * 3600_000
export const MAX_MISSES = 3

export interface KnownPeer {
  address: string
  port: number
  /** The peer id it announced (information: entries are keyed by address and port). */
  peer?: string
  /** Wall-clock ms. */
  lastSeen: number
  /** Starts in a row at which it was queried and did not answer. */
  misses: number
  /** When it was first remembered (wall-clock ms), so every process counts the new entries of the last hour. */
  addedAt?: number
}

export function knownPeersPath(dictionaryPath: string): string {
  return join(dirname(dictionaryPath), KNOWN_PEERS_FILE)
}

const entrySchema = z.object({
  address: z
    .string()
    .max(64)
    .refine((a) => isQueryableAddress(a)),
  port: z.number().int().min(1).max(65535),
  peer: z
    .string()
    .regex(/^[0-9A-Za-z_-]{8,64}$/)
    .optional(), // the announcement's peer-id rule
  lastSeen: z.string().max(40),
  misses: z.number().int().min(0).max(MAX_MISSES).optional(),
  addedAt: z.string().max(40).optional(),
})

const fileSchema = z.object({
  version: z.literal(KNOWN_PEERS_VERSION),
  peers: z.array(z.unknown()).max(4 * MAX_KNOWN_PEERS),
})

export const keyOf = (p: { address: string; port: number }): string => `${p.address}|${p.port}`
/** keyOf of `address` in its canonical form (a mapped IPv4 address is that IPv4 host). */
export const peerKey = (address: string, port: number): string => keyOf({ address: canonicalAddress(address), port })

/** The valid, unexpired entries of a parsed file, newest first, at most MAX_KNOWN_PEERS; `skipped` counts the rest. */
export function entriesFromFile(
  value: unknown,
  now: number,
  ttlMs = KNOWN_PEER_TTL_MS,
): { peers: KnownPeer[]; skipped: number } {
  const parsed = fileSchema.safeParse(value)
  if (!parsed.success) throw new Error('not a known-peers file')
  const peers = new Map<string, KnownPeer>()
  let skipped = 0
  for (const raw of parsed.data.peers) {
    const e = entrySchema.safeParse(raw)
    const lastSeen = e.success ? Date.parse(e.data.lastSeen) : NaN
    // A time in the future (a clock set back, a hand-edited file) would never expire: refused.
    if (!e.success || Number.isNaN(lastSeen) || lastSeen > now + 24 * 3600_000 || now - lastSeen > ttlMs) {
      skipped++
      continue
    }
    // A first-remembered time that is no time, or later than the last sighting, counts as long ago (not as new).
    const addedAt = e.data.addedAt === undefined ? NaN : Date.parse(e.data.addedAt)
    const entry: KnownPeer = {
      address: canonicalAddress(e.data.address),
      port: e.data.port,
      lastSeen,
      misses: e.data.misses ?? 0,
      ...(e.data.peer ? { peer: e.data.peer } : {}),
      ...(addedAt <= lastSeen ? { addedAt } : {}),
    }
    const old = peers.get(keyOf(entry))
    if (!old || old.lastSeen < entry.lastSeen) peers.set(keyOf(entry), entry)
    else skipped++
  }
  const list = [...peers.values()].sort(byFreshness)
  return { peers: list.slice(0, MAX_KNOWN_PEERS), skipped: skipped + Math.max(0, list.length - MAX_KNOWN_PEERS) }
}

/** Answering ones before those that stopped answering, then the most recently seen first. */
export function byFreshness(a: KnownPeer, b: KnownPeer): number {
  return (a.misses > 0 ? 1 : 0) - (b.misses > 0 ? 1 : 0) || b.lastSeen - a.lastSeen
}

export function serialize(peers: readonly KnownPeer[]): string {
  const entries = peers.map((p) => ({
    address: p.address,
    port: p.port,
    ...(p.peer ? { peer: p.peer } : {}),
    lastSeen: new Date(p.lastSeen).toISOString(),
    misses: p.misses,
    ...(p.addedAt !== undefined ? { addedAt: new Date(p.addedAt).toISOString() } : {}),
  }))
  return `${JSON.stringify({ version: KNOWN_PEERS_VERSION, peers: entries }, null, 1)}\n`
}

/** Read and validate the file; absent → []; anything wrong with it → [] and a warning. Never throws. */
export async function readKnownPeers(
  path: string,
  options: { now: number; log: Logger; ttlMs?: number },
): Promise<KnownPeer[]> {
  let bytes: Buffer
  try {
    // Not following a link, non-blocking (a FIFO must not hang start-up), bounded in size.
    bytes = await readRegularFile(path, { maxBytes: MAX_KNOWN_PEERS_FILE_BYTES })
  } catch (err) {
    if (!isAbsent(err)) options.log.warn({ path, err: (err as Error).message }, 'known-peers file ignored')
    return []
  }
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
    const { peers, skipped } = entriesFromFile(JSON.parse(text), options.now, options.ttlMs)
    if (skipped > 0)
      options.log.info({ path, skipped }, 'known-peers entries skipped (invalid, duplicate, expired or over the cap)')
    return peers
  } catch (err) {
    options.log.warn({ path, err: (err as Error).message }, 'known-peers file ignored: not a valid known-peers file')
    return []
  }
}
