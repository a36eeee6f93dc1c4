import { BoundedMap } from '../bounded-map.js'
import type { DhtPath, DhtSession } from '../dht/session.js'
import { P2PError } from '../errors.js'
import { isViolation } from '../transfer/response-check.js'
import { formatPeerId, parsePeerId } from '../trust/peer-id.js'

/** Peers kept from lookups at most (a topic flooded with announcements cannot grow our memory). */
export const MAX_DHT_PEERS = 64
/**
 * A peer whose dials fail this many times in a row is dropped (not taken from lookups for GONE_FOR_MS, four
 * times longer each time again): a DHT keeps a departed seeder's announcement for minutes, and a peer the
 * download keeps seeing as live would hold it past --wait forever (each failure costs the connect deadline; it
 * is retried after 1, 2, … s).
 */
export const MAX_DIAL_FAILURES = 3
/** How long a peer dropped after MAX_DIAL_FAILURES stays out: its place goes to keys not yet tried. */
export const GONE_FOR_MS = 60_000
/**
 * A key that is no seeder now (the DHT did not know it, or its server opened and did not greet) is dropped at
 * once and held out for less: a busy DHT can miss a live one.
 */
export const NO_SEEDER_FOR_MS = 15_000
/** Named seeders at most (the manifest race asks them before any other, in its 8 places). */
export const MAX_NAMED = 4
/** Keys dropped and remembered at most (oldest dropped first out). */
export const MAX_GONE_PEERS = 4096

/**
 * Why a failed dial shows a key is no seeder now: the DHT did not know it, its server opened and said nothing,
 * it sent a message longer than any p2pshare peer sends (dht/bounded-stream.ts), or it broke the protocol.
 */
export type NoSeeder = 'unknown' | 'silent' | 'oversized' | 'violation'

/** What a failed dial shows about its key (dht-keys.ts), if anything. */
export function noSeeder(err: P2PError, session: DhtSession): NoSeeder | undefined {
  if (isViolation(err)) return 'violation' // closed by our client for what the peer sent (client.ts)
  if (err.code === 'E_TOO_LARGE') return 'oversized'
  if (err.details?.dhtCode === 'PEER_NOT_FOUND') return 'unknown'
  return session.silentOnceOpen ? 'silent' : undefined
}

export interface FoundPeer {
  key: Buffer
  peerId: string
  path?: DhtPath
  /** Dials that failed in a row; at MAX_DIAL_FAILURES the peer is dropped. */
  failures: number
  /** Not offered again before this (the clock's ms), after a failed dial. */
  retryAt: number
  /** Named by the user (a share link's seeder): asked first, and kept beyond MAX_DHT_PEERS. */
  named?: true
}

/**
 * The keys a download found on the DHT, and those it dropped (docs/protocol.md §6.4): which to offer, which to
 * take from a lookup, and what a failed dial does to a key. No I/O; the clock is injected.
 */
export class DhtKeys {
  private readonly found = new Map<string, FoundPeer>()
  /** Keys dropped: until when they stay out, and how often they were dropped (each time 4 × longer). */
  private readonly gone = new BoundedMap<string, { until: number; times: number }>(MAX_GONE_PEERS)
  /** Keys the user named, and those of them no longer taken as named (refused, or answered once). */
  private readonly named: Array<{ key: Buffer; peerId: string }> = []
  private readonly unnamed = new Set<string>()
  /** When a key was last dropped, or refused by the allow-list. */
  private droppedAt = Number.NEGATIVE_INFINITY

  constructor(private readonly now: () => number = () => performance.now()) {}

  get size(): number {
    return this.found.size
  }

  get goneCount(): number {
    return this.gone.size
  }

  get(peerId: string): FoundPeer | undefined {
    return this.found.get(peerId)
  }

  /** Keys a dial may go to now: not failed out, not waiting for their retry. */
  offerable(): FoundPeer[] {
    const now = this.now()
    return [...this.found.values()].filter((p) => p.failures < MAX_DIAL_FAILURES && p.retryAt <= now)
  }

  /**
   * A key from a lookup (or `named` by the user), taken when it is new, not held out and there is room (a named
   * key needs none: a flood must not keep out the seeder a link names); true when taken.
   */
  take(key: Buffer, peerId: string, named = false): boolean {
    const kept = this.found.get(peerId)
    if (kept) {
      if (named) kept.named = true // a lookup may have taken it first: it is still the one the user named
      return false
    }
    if (!named && this.found.size >= MAX_DHT_PEERS) return false
    if (this.now() < (this.gone.get(peerId)?.until ?? 0)) return false
    this.found.set(peerId, { key: Buffer.from(key), peerId, failures: 0, retryAt: 0, ...(named ? { named } : {}) })
    return true
  }

  /** A key the allow-list refused: counts as a drop for how often lookups come. */
  refused(): void {
    this.droppedAt = this.now()
  }

  /** A key dropped or refused within the last `ms`. */
  droppedWithin(ms: number): boolean {
    return this.now() - this.droppedAt <= ms
  }

  /** A key answered: its failures start again from 0. */
  answered(found: FoundPeer): void {
    found.failures = 0
  }

  /** The keys the user named (a share link's seeder), at most MAX_NAMED: taken by `takeNamed`. */
  name(peerIds: readonly string[]): void {
    if (peerIds.length > MAX_NAMED)
      throw new P2PError('E_USAGE', `at most ${MAX_NAMED} named DHT seeders (each takes a place the race asks first)`)
    for (const text of peerIds) {
      const key = parsePeerId(text, 'the seeder')
      this.named.push({ key, peerId: formatPeerId(key) })
    }
  }

  /**
   * The named keys `usable` allows, taken (or marked named again) unless held out or no longer named; those it
   * refuses are named no more. Returns the peer IDs newly taken and newly refused.
   */
  takeNamed(usable: (key: Buffer) => boolean): { taken: string[]; refused: string[] } {
    const taken: string[] = []
    const refused: string[] = []
    for (const { key, peerId } of this.named) {
      if (this.unnamed.has(peerId)) continue
      if (!usable(key)) {
        this.unnamed.add(peerId)
        refused.push(peerId)
      } else if (this.take(key, peerId, true)) taken.push(peerId)
    }
    return { taken, refused }
  }

  /** A key that answered: if named, first in the race no more (a link may name any key, a victim's included). */
  unname(found: FoundPeer): void {
    if (!found.named) return
    delete found.named
    this.unnamed.add(found.peerId)
  }

  /**
   * A dial (or the session it made) failed: the key is dropped (`noSeeder` at once, else at MAX_DIAL_FAILURES), or
   * offered again after 1, 2, … s. Returns 'dropped', or in how many ms it is offered again, or undefined when the
   * key was no longer ours.
   */
  failed(found: FoundPeer, noSeeder?: NoSeeder): 'dropped' | number | undefined {
    if (this.found.get(found.peerId) !== found) return undefined
    found.failures++
    const wait = 1000 * 2 ** (found.failures - 1)
    found.retryAt = this.now() + wait
    if (!noSeeder && found.failures < MAX_DIAL_FAILURES) return wait
    // A key that broke the protocol is no honest seeder that went away: out as long as those.
    this.drop(found, noSeeder === 'unknown' || noSeeder === 'silent' ? NO_SEEDER_FOR_MS : GONE_FOR_MS)
    return 'dropped'
  }

  /**
   * The download expects nothing more of a key that answered (banned, or it has no such item: held out for
   * NO_SEEDER_FOR_MS): its place goes to another. Keys that answered kept their places for good, so 300
   * such keys on a topic kept the seeder out (attacker, fifty-second session).
   */
  gaveUp(peerId: string, lacking: boolean): boolean {
    const found = this.found.get(peerId)
    if (!found) return false
    this.drop(found, lacking ? NO_SEEDER_FOR_MS : GONE_FOR_MS)
    return true
  }

  /** Out of `found` (its place for a key not yet tried), and not taken again for `forMs` (× 4 each time again). */
  private drop(found: FoundPeer, forMs: number): void {
    this.found.delete(found.peerId)
    this.droppedAt = this.now()
    const times = (this.gone.get(found.peerId)?.times ?? 0) + 1
    this.gone.set(found.peerId, { until: this.droppedAt + forMs * 4 ** (times - 1), times })
  }
}
