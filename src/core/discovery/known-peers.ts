import { writeFileAtomic } from '../disk.js'
import { type Logger, silentLogger } from '../log.js'
import { type LocalInterface, listInterfaces } from './interfaces.js'
import {
  byFreshness,
  type KnownPeer,
  keyOf,
  MAX_KNOWN_PEERS,
  MAX_MISSES,
  readKnownPeers,
  serialize,
} from './known-peers-file.js'
import { canonicalAddress, isQueryableAddress, unicastProblem } from './unicast-address.js'

export * from './known-peers-file.js'
export { isQueryableAddress } from './unicast-address.js'

/**
 * The peers this host has heard from, remembered so that a peer found once is
 * found again when broadcast later fails: `known_peers.json` beside the
 * content dictionary. A listener or downloader records every peer that
 * answers its queries (the source address and UDP port of the answer, which
 * comes to a port of the querier's own) and, at start, queries each known
 * peer by unicast for everything as well as by broadcast.
 *
 * Bounded three ways, because its entries come from the network and each one
 * costs a datagram at every start: at most MAX_KNOWN_PEERS entries (the
 * oldest, and those that stopped answering, go first; an hour adds at most
 * half as many new ones, so a flood of spoofed sources cannot push out every
 * good entry), entries not heard from for KNOWN_PEER_TTL_MS expire, and an
 * entry queried at MAX_MISSES starts in a row without an answer is dropped (a
 * file pointing at a stranger's address makes us send it at most that many
 * queries). The file is written atomically (temp + rename), at most every
 * `saveDelayMs` and only when something a reader needs changed, and read as
 * a regular file of at most MAX_KNOWN_PEERS_FILE_BYTES: a corrupt, huge,
 * symlinked or FIFO file is ignored with a warning and replaced at the next
 * write. Two processes writing at once merge with what is on disk first; the
 * later rename wins the rest (an entry may wait for the next sighting).
 */

/** A peer heard again is written back only when its time on disk is older than this (a listener hears each peer every few seconds). */
const REFRESH_AFTER_MS = 10 * 60_000
/** New entries are counted per this window (a long-running p2p-listen keeps learning). */
export const ADDED_WINDOW_MS = 3600_000

export interface KnownPeersOptions {
  log?: Logger
  /** Wall clock (ms). */
  now?: () => number
  ttlMs?: number
  /** Write at most this often (default 2 s); close() writes what is left. */
  saveDelayMs?: number
  max?: number
  /** The host's interfaces, for the check of an address before it is queried (default: read at each toQuery()). */
  interfaces?: () => readonly LocalInterface[]
}

export class KnownPeers {
  private peers = new Map<string, KnownPeer>()
  /** Keys queried this run and not heard from since. */
  private readonly waiting = new Set<string>()
  private readonly written = new Map<string, number>()
  /** Entries dropped at toQuery() because their address must not get a query here (a subnet broadcast, a zone not on this host). */
  dropped = 0
  private dirty = false
  private timer: NodeJS.Timeout | undefined
  private saving: Promise<void> | undefined
  private closed = false
  private readonly log: Logger
  private readonly now: () => number
  private readonly max: number

  constructor(
    readonly path: string,
    private readonly options: KnownPeersOptions = {},
  ) {
    this.log = options.log ?? silentLogger()
    this.now = options.now ?? Date.now
    this.max = options.max ?? MAX_KNOWN_PEERS
  }

  async load(): Promise<KnownPeer[]> {
    const peers = await readKnownPeers(this.path, { now: this.now(), log: this.log, ttlMs: this.options.ttlMs })
    this.peers = new Map(peers.slice(0, this.max).map((p) => [keyOf(p), p]))
    for (const p of this.peers.values()) this.written.set(keyOf(p), p.lastSeen)
    return this.list()
  }

  list(): KnownPeer[] {
    return [...this.peers.values()].sort(byFreshness)
  }

  /**
   * The known peers to query now, for everything (one query each, which
   * every live announcer answers): each counts a miss unless it answers
   * before the next write; at MAX_MISSES it is dropped.
   */
  toQuery(accept: (address: string) => boolean = () => true): KnownPeer[] {
    const interfaces = (this.options.interfaces ?? listInterfaces)()
    for (const p of this.list()) {
      const problem = unicastProblem(p.address, interfaces)
      if (problem === undefined) continue
      this.peers.delete(keyOf(p))
      this.dropped++
      this.log.info({ address: p.address, port: p.port, reason: problem }, 'known peer dropped')
      this.touch()
    }
    const out = this.list().filter((p) => accept(p.address))
    for (const p of out) {
      this.waiting.add(keyOf(p))
      p.misses++
    }
    if (out.length > 0) this.touch()
    return out
  }

  /** A peer answered our query from `address`:`port` (never a mere announcement: its source can be forged). */
  heard(from: string, port: number, peer?: string): void {
    const address = canonicalAddress(from)
    if (this.closed || !isQueryableAddress(address) || port < 1 || port > 65535) return
    const key = keyOf({ address, port })
    const now = this.now()
    const known = this.peers.get(key)
    if (known) {
      this.answeredBy(key, known, now)
      if (peer) known.peer = peer
      return
    }
    // An hour cannot replace more than half of what was known, counted from the file's first-remembered times:
    // the bound holds across processes (a stranger answering three downloads in a row pushed out a seeder);
    // save() holds it again over what processes running at once wrote.
    if (this.addedWithinHour(now).length >= this.maxAddedPerHour) return
    this.peers.set(key, { address, port, lastSeen: now, misses: 0, addedAt: now, ...(peer ? { peer } : {}) })
    this.evict()
    this.touch()
  }

  /**
   * A known peer told us, saying our query's nonce back, that it withheld its answer (a cookie notice: only the
   * peer we queried saw the nonce): it is there, so its silence is no miss. Nothing else of it changes, and a
   * peer not known is not added (an answer's peer ID is what a record names).
   */
  stillThere(from: string, port: number): void {
    const key = keyOf({ address: canonicalAddress(from), port })
    const known = this.closed ? undefined : this.peers.get(key)
    if (known) this.answeredBy(key, known, this.now())
  }

  private answeredBy(key: string, known: KnownPeer, now: number): void {
    const answered = this.waiting.delete(key)
    if (answered) known.misses = 0
    known.lastSeen = now
    if (answered || now - (this.written.get(key) ?? 0) > REFRESH_AFTER_MS) this.touch()
  }

  /** Write now if anything changed, and stop writing. */
  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.timer)
    this.timer = undefined
    await this.saving
    if (this.dirty) await this.save()
  }

  private touch(): void {
    this.dirty = true
    if (this.timer || this.closed) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.save()
    }, this.options.saveDelayMs ?? 2000)
    this.timer.unref()
  }

  /** Merge with what another process may have written meanwhile, drop what is spent, write atomically. */
  private save(): Promise<void> {
    if (this.saving) return this.saving
    this.dirty = false
    this.saving = (async () => {
      const onDisk = await readKnownPeers(this.path, {
        now: this.now(),
        log: silentLogger(),
        ttlMs: this.options.ttlMs,
      })
      for (const theirs of onDisk) {
        const ours = this.peers.get(keyOf(theirs))
        if (!ours) {
          // Written by another process since we last read or wrote (not one this process dropped since).
          if (!this.written.has(keyOf(theirs))) this.peers.set(keyOf(theirs), theirs)
        } else if (theirs.lastSeen > ours.lastSeen) {
          ours.lastSeen = theirs.lastSeen
          if (!this.waiting.has(keyOf(ours))) ours.misses = theirs.misses
        }
      }
      for (const [key, p] of this.peers) if (p.misses >= MAX_MISSES) this.peers.delete(key)
      // Processes running at once each added up to the bound: past it, the latest added go.
      const added = this.addedWithinHour(this.now()).sort((a, b) => a.addedAt! - b.addedAt!)
      for (const p of added.slice(this.maxAddedPerHour)) this.peers.delete(keyOf(p))
      this.evict()
      const list = this.list()
      // Its owner's alone: who this host talks to (in a private swarm, what the wire keeps sealed).
      await writeFileAtomic(this.path, serialize(list), { mode: 0o600 })
      this.written.clear()
      for (const p of list) this.written.set(keyOf(p), p.lastSeen)
    })()
      .catch((err: unknown) => {
        this.log.warn({ path: this.path, err: (err as Error).message }, 'known-peers file not written')
      })
      .finally(() => {
        this.saving = undefined
      })
    return this.saving
  }

  /** New entries an hour may bring, in all processes: half of what may be known. */
  private get maxAddedPerHour(): number {
    return Math.ceil(this.max / 2)
  }

  private addedWithinHour(now: number): KnownPeer[] {
    return [...this.peers.values()].filter((p) => p.addedAt !== undefined && now - p.addedAt < ADDED_WINDOW_MS)
  }

  private evict(): void {
    const list = this.list()
    for (const p of list.slice(this.max)) this.peers.delete(keyOf(p))
  }
}
