import { ByteRateLimit } from '../rate-limit.js'
/**
 * The connections a chunk server holds, counted per address, and who makes
 * room when it is full. Without room-making, a stranger with 16 addresses
 * (any LAN host can take that many) held all 256 slots with connections
 * that never finish their handshake, and every newcomer got E_BUSY for as
 * long as it kept that up (docs/security.md, "Connection floods").
 *
 * When the table is full, a newcomer takes the slot of
 *   1. the oldest connection that has not asked for anything yet (no
 *      complete request: its handshake, or its first frame, still pending) —
 *      an honest client asks within milliseconds of connecting, so to push
 *      an honest handshake out a flooder must open more connections than the
 *      table holds while that handshake runs;
 *   2. else the idle connection (nothing being answered) that has asked
 *      but was never given a manifest, a chunk or a place in the upload
 *      slots' line (every answer an error: ids we do not have), idle
 *      longest, however briefly: a
 *      stranger with 17 addresses held all 256 slots with connections that
 *      asked for an unknown manifest every second (never idle for
 *      `reclaimIdleMs`), and every honest newcomer got E_BUSY; to keep a
 *      slot now, a connection must be served, which costs it our upload
 *      slots' turns;
 *   3. else the idle connection longest idle of the address that holds the
 *      most connections, when it holds at least two more than the
 *      newcomer's would: a flooder that is given something (it asks for a
 *      manifest we have every few seconds) holds its slots as any client
 *      does, so what it holds is weighed against what the newcomer's
 *      address holds, and the most invested address gives way first (17
 *      addresses × 15 kept every honest download out, second attacker pass);
 *   4. else the connection idle longest, if it has been idle at least
 *      `reclaimIdleMs` (nothing asked or being answered): an idle pooled
 *      connection is cheap for its client to open again;
 *   5. else nobody: the newcomer gets E_BUSY.
 * The per-address cap is never lifted this way. Before all that, an address
 * may open `newConnectionsPerSecond` a second (twice that at once): each
 * arrival costs a handshake, so one that closes and reopens as fast as it can
 * held a core (reason `rate`: closed unanswered, as an answer costs the
 * handshake). A DHT session's handshake was rated already, by where its
 * datagram came from (dht/handshake-source.ts), and it spends nothing of this
 * rate: it is admitted once its dialler showed it receives at its address
 * (the greeting's challenge, dht/greeting.ts), and a relay may have passed
 * its handshake on.
 *
 * Every admitted connection is released exactly once: `release` is
 * idempotent (a connection closed to make room is released at once, and
 * again when its socket's close event comes, which is then a no-op).
 */

/** What a connection holds its slot for (`unserved`: never given a manifest, a chunk or a place in line). */
export type SlotUse = { silentSince: number } | { idleSince: number; unserved?: boolean } | { busy: true }

export interface Slot {
  readonly use: SlotUse
  /** Close it to make room (its owner's teardown: releases everything it holds). */
  reclaim(why: string): void
}

export interface AdmissionLimits {
  maxConnections: number
  maxConnectionsPerAddress: number
  newConnectionsPerSecond: number
  /** An idle connection gives way to a newcomer only after this long idle. */
  reclaimIdleMs: number
}

export type Admission = { admitted: true; reclaimed?: Reclaimed } | { admitted: false; reason: Refused }

/** Why a connection is turned away: the server is full, its address holds its cap, or opened too many lately. */
export type Refused = 'full' | 'address' | 'rate'

export const DEFAULT_RECLAIM_IDLE_MS = 5_000

/** Why a connection gave way (the order it is chosen in: admission.ts). */
export type Reclaimed = 'silent' | 'unserved' | 'crowded' | 'idle'

const RECLAIM_WHY: Record<Reclaimed, string> = {
  silent: 'it had asked for nothing yet, and a newcomer needed its place',
  unserved: 'the server was full and nothing it asked for was given it',
  crowded: 'the server was full and its address held the most connections',
  idle: 'the server was full and it was idle longest',
}

/** What a connection turned away is told (for `rate`, what the log says: it is told nothing). */
export function refusalText(reason: Refused, limits: Omit<AdmissionLimits, 'reclaimIdleMs'>): string {
  if (reason === 'rate')
    return `this peer takes at most ${limits.newConnectionsPerSecond} new connections a second from your address`
  if (reason === 'full') return `this peer is at its limit of ${limits.maxConnections} connections; try again later`
  return `this peer is at its limit of ${limits.maxConnectionsPerAddress} connections from your address; try again later`
}

/** How many more connections an address must hold than the newcomer's would, to give one up to it. */
const CROWDED_MARGIN = 2

export class ConnectionTable<C extends Slot> {
  /** Each connection's address. */
  private readonly held = new Map<C, string>()
  private readonly perAddress = new Map<string, number>()
  private readonly arrivals: ByteRateLimit

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.arrivals = new ByteRateLimit({
      perSecond: limits.newConnectionsPerSecond,
      burst: 2 * limits.newConnectionsPerSecond,
      totalPerSecond: Number.MAX_SAFE_INTEGER, // per address only: a crowd of honest peers is not held back
      maxKeys: 4096,
      now,
    })
  }

  get size(): number {
    return this.held.size
  }

  connections(): IterableIterator<C> {
    return this.held.keys()
  }

  /** Connections held from `address` (an addressKey). */
  from(address: string): number {
    return this.perAddress.get(address) ?? 0
  }

  /**
   * May a connection from `address` come in (`dht`: a DHT session's, whose
   * handshake was rated)? When the table is full, a connection that gives way
   * is reclaimed (closed, released) here, and the caller must then `add` the
   * newcomer.
   */
  admit(address: string, dht = false): Admission {
    if (!dht && !this.arrivals.take(address, 1)) return { admitted: false, reason: 'rate' }
    if (this.from(address) >= this.limits.maxConnectionsPerAddress) return { admitted: false, reason: 'address' }
    if (this.held.size < this.limits.maxConnections) return { admitted: true }
    const victim = this.victim(address)
    if (!victim) return { admitted: false, reason: 'full' }
    this.release(victim.connection)
    victim.connection.reclaim(RECLAIM_WHY[victim.why])
    return { admitted: true, reclaimed: victim.why }
  }

  add(connection: C, address: string): void {
    if (this.held.has(connection)) return
    this.held.set(connection, address)
    this.perAddress.set(address, this.from(address) + 1)
  }

  /** Its slot back; false when it was not held (already released). */
  release(connection: C): boolean {
    const address = this.held.get(connection)
    if (address === undefined) return false
    this.held.delete(connection)
    const left = this.from(address) - 1
    if (left > 0) this.perAddress.set(address, left)
    else this.perAddress.delete(address)
    return true
  }

  /** Who makes room for a newcomer from `address` (see above), if anyone. */
  private victim(address: string): { connection: C; why: Reclaimed } | undefined {
    let silent: { connection: C; since: number } | undefined
    let unserved: { connection: C; since: number } | undefined
    let crowded: { connection: C; since: number; holds: number } | undefined
    let idle: { connection: C; since: number } | undefined
    const idleBefore = this.now() - this.limits.reclaimIdleMs
    const crowdedFrom = this.from(address) + 1 + CROWDED_MARGIN
    const older = (a: { since: number } | undefined, since: number) => a === undefined || since < a.since
    for (const [connection, from] of this.held) {
      const use = connection.use
      if ('silentSince' in use) {
        if (older(silent, use.silentSince)) silent = { connection, since: use.silentSince }
      } else if ('idleSince' in use) {
        const since = use.idleSince
        if (use.unserved === true && older(unserved, since)) unserved = { connection, since }
        const holds = this.from(from)
        const more =
          crowded === undefined || holds > crowded.holds || (holds === crowded.holds && since < crowded.since)
        if (holds >= crowdedFrom && more) crowded = { connection, since, holds }
        if (since <= idleBefore && older(idle, since)) idle = { connection, since }
      }
    }
    if (silent) return { connection: silent.connection, why: 'silent' }
    if (unserved) return { connection: unserved.connection, why: 'unserved' }
    if (crowded) return { connection: crowded.connection, why: 'crowded' }
    if (idle) return { connection: idle.connection, why: 'idle' }
    return undefined
  }
}

// Shared with discovery (its listings take turns by the same hosts: fair-listing.ts), so it lives in the core.
export { addressKey } from '../address-key.js'
