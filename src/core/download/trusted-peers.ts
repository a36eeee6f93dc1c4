import { CountedLines } from '../counted-lines.js'
import type { Logger } from '../log.js'
import { LruMap } from '../lru-map.js'
import { type PeerAddress, peerKey } from '../pool.js'
import { parseKeyText } from '../trust/key-text.js'
import { formatPeerId } from '../trust/peer-id.js'
import type { SecureOptions } from '../trust/secure-socket.js'
import { secureOptions, type TransportMode, type Trust } from '../trust/trust.js'
import type { LivePeer, PeerFinder } from './job.js'
import type { PassedOver } from './other-transport.js'

/**
 * The peers a download may use, as its transport sees them (docs/protocol.md
 * §5): with the encrypted transport, only peers announcing it, with a valid
 * peer ID (and on the allow-list, if any); each connection must reach the
 * key that peer announced. With the plain one (no trust given), only peers
 * announcing plain. Never a fallback: a forged "plain" announcement cannot
 * downgrade an encrypted downloader. An announcement is only a claim (its
 * source address can be forged), so a refusal (another key answered, no
 * swarm proof, not allowed) drops the pair of address and announced peer ID
 * for the rest of the download, counted and logged once, not the address:
 * a forged datagram naming another peer ID for an honest seeder's address
 * costs at most one refused connection (none when the seeder's own is
 * offered in the same dial, below), and the seeder's own next announcement
 * brings it back; the peer IDs announced for each address are remembered
 * with how often each came back (usableAnnounced), so forged ones cannot
 * hide the seeder's own while they are the newest, and a dial accepts any
 * of them not refused (secureOptionsFor): one handshake tells which one
 * answers there, and another key answering refuses every one offered.
 * Once a connection reached a key, that key is what the
 * address is dialled with for the rest of the download, whatever later
 * announcements claim, until a connection to it is refused.
 */

export interface RefusedPeer {
  key: string
  peerId: string | undefined
  reason: string
  /** It refused us (its allow-list leaves our peer ID out), rather than we it. */
  refusedUs?: true
}

/** An announced peer ID's key, and its canonical text (what refusals are keyed by). */
interface KnownId {
  key: Buffer
  id: string
}

export class TrustedPeers implements PeerFinder {
  private readonly expected = new Map<string, KnownId>()
  /** By address and the peer ID it was dialled with (refusalKey). */
  private readonly refusals = new Map<string, RefusedPeer>()
  /** The peer ID a connection to each address reached: a verified key outweighs any announcement. */
  private readonly reached = new Map<string, string>()
  /** The peer IDs each address was announced with, newest first, with how often each came back: see usableAnnounced. */
  private readonly announced = new Map<string, Array<{ id: string; turns: number }>>()
  /** The dictionary's `heard` list last merged for each address (a new list is merged once). */
  private readonly heardSeen = new Map<string, readonly string[]>()
  /** Peers passed over (each said once in the log, as counted-lines.ts allows), the newest MAX_SKIPPED kept. */
  private readonly skipped = new LruMap<string, true>()
  private readonly skipLines: CountedLines
  /** The peers left out for the allow-list, by address: the peer ID each was announced with (notAllowed). */
  private readonly offList = new Map<string, string>()
  /** Announced peer ID texts as parsed (null: not a peer ID): the peers are looked at many times a second. */
  private readonly parsed = new Map<string, KnownId | null>()
  /** Aborted by `close`: every wait for a change still pending ends (its timer would hold the process). */
  private readonly closed = new AbortController()

  constructor(
    private readonly inner: PeerFinder,
    private readonly trust: Trust | undefined,
    private readonly log: Logger,
  ) {
    this.skipLines = new CountedLines(log, 'peer not used', 'peers not used')
  }

  peers(id: string): LivePeer[] {
    return this.inner.peers(id).filter((p) => this.admit(p))
  }

  /**
   * The peer IDs of the peers that have `id` and were left out for the allow-list: a download that got nothing
   * says so (it said "is a seeder running?" of a seeder that was there).
   */
  notAllowed(id: string): string[] {
    return [...new Set(this.inner.peers(id).flatMap((p) => this.offList.get(peerKey(p)) ?? []))]
  }

  waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
    return this.inner.waitForChange(ms, signal ? AbortSignal.any([signal, this.closed.signal]) : this.closed.signal)
  }

  knowChunkCount(id: string, chunkCount: number): void {
    this.inner.knowChunkCount?.(id, chunkCount)
  }

  /** The download has ended: the waits it left (a lost race, the fetch loop's last) end now. */
  close(): void {
    this.closed.abort()
  }

  /**
   * What a connection to this peer needs (undefined: the plain transport): the key it must reach, the chosen
   * peer ID's, or, until one was reached there, that of any usable peer ID announced for the address, so that
   * one handshake tells which answers there (an attack on the fix of forged IDs: each refused dial cost ~1.25 s,
   * and 16 forged IDs in turn outlasted a download's --wait). What it offers is the caller's to give back to
   * `refuse` (offeredIds): the announcements may change while the handshake runs.
   */
  secureOptionsFor(peer: PeerAddress): SecureOptions | undefined {
    if (this.trust?.transport !== 'encrypted') return undefined
    const key = peerKey(peer)
    const expected = this.expected.get(key)
    if (!expected) return secureOptions(this.trust)
    const others = this.reached.has(key)
      ? []
      : (this.announced.get(key) ?? []).flatMap((e) => {
          const known = e.id === expected.id ? undefined : this.usableId(key, e.id)
          return known ? [known] : []
        })
    const keys = others.length > 0 ? { expectedRemoteKeys: [expected.key, ...others.map((o) => o.key)] } : {}
    return secureOptions(this.trust, { expectedRemoteKey: expected.key, ...keys })
  }

  /** The peer ID a peer announced (for receipts). */
  peerIdOf(key: string): string | undefined {
    return this.expected.get(key)?.id
  }

  /** A connection to this peer reached `peerId` (the handshake proved it): dial it with that from now on. */
  reachedKey(peer: PeerAddress, peerId: string): void {
    const key = peerKey(peer)
    this.reached.set(key, peerId)
    const known = this.known(peerId)
    if (known) this.expected.set(key, known) // what the receipt names
  }

  /**
   * This peer's connection was refused: never use it again in this download with `peerIds`, those it was dialled
   * with (offeredIds of the dial's options: every one offered when another key answered, else the one named),
   * or, without them, the one it is named by now. `refusedUs`: the peer refused our key (the one it reached).
   */
  refuse(peer: PeerAddress, reason: string, peerIds?: readonly string[], refusedUs = false): void {
    const key = peerKey(peer)
    for (const peerId of new Set(peerIds ?? [this.peerIdOf(key)])) {
      const refusal = refusalKey(key, peerId)
      if (this.reached.get(key) === peerId) this.reached.delete(key)
      if (this.refusals.has(refusal)) continue
      this.refusals.set(refusal, { key, peerId, reason, ...(refusedUs ? { refusedUs: true as const } : {}) })
      this.log.warn(
        { peer: key, peerId, code: 'E_AUTH', reason },
        refusedUs ? 'peer refused us (its allow-list leaves our peer ID out)' : 'peer refused',
      )
    }
  }

  get refused(): RefusedPeer[] {
    return [...this.refusals.values()]
  }

  /** The peers that have `id` left out for announcing the other transport: a race lost says so (other-transport.ts). */
  otherTransport(id: string): PassedOver {
    const ours = this.trust?.transport ?? 'plain'
    return { ours, peers: [...new Set(this.inner.peers(id).flatMap((p) => (speaks(p) === ours ? [] : [peerKey(p)])))] }
  }

  private admit(p: LivePeer): boolean {
    const key = peerKey(p)
    const ours = this.trust?.transport ?? 'plain'
    if (speaks(p) !== ours) return this.skip(key, `it speaks the ${speaks(p)} transport and we the ${ours} one`)
    if (ours === 'plain') return !this.refusals.has(refusalKey(key, undefined))
    const peerId = this.reached.get(key) ?? this.usableAnnounced(key, p.peerId, p.peerIds)
    const expected = peerId === undefined ? undefined : this.known(peerId)
    if (!expected) return this.skip(key, 'its announcement carries no valid peer ID')
    if (this.refusals.has(refusalKey(key, expected.id))) return false
    if (this.trust?.allow && !this.trust.allow.allows(expected.key)) {
      if (this.offList.size < MAX_IDS_PARSED) this.offList.set(key, expected.id)
      return this.skip(key, 'it is not on the allow-list')
    }
    this.expected.set(key, expected)
    return true
  }

  /**
   * The peer ID to dial `peer` with, of those it was announced with
   * (`current` the newest; `heard`, where the dictionary keeps them, every
   * one heard for it lately; the list in the order they were last heard):
   * the one that came back most often, the one heard longest ago first among
   * equals, of those not refused nor off the allow-list; `current` when none
   * is usable (it is then refused or skipped as such). A seeder's own ID
   * comes back with each of its announcements, so forged ones, each new, do
   * not outrank it, and forged ones that come back (two in turn, hundreds a
   * second) are refused once each and then passed over: the seeder's is in
   * `heard` though it was never the newest when looked at (before, only the
   * newest was seen, ten times a second, and two such IDs hid the seeder for
   * a whole download: attacker, fifty-first session). An ID known only from
   * `heard` joins just behind the newest, so one that turns up later never
   * wins a tie against one known before (the review: a fresh forged ID each
   * poll, appended last, beat the seeder's at every poll). When the list is
   * full, the ID to go is a refused one, else the newest of those that came
   * back least: a flood of fresh IDs pushes out only its own. Each forged ID
   * costs at most one refused connection.
   */
  private usableAnnounced(
    peer: string,
    current: string | undefined,
    heard: readonly string[] | undefined,
  ): string | undefined {
    if (current === undefined) return undefined
    const usable = (id: string): boolean => this.usableId(peer, id) !== undefined
    let ids = this.announced.get(peer)
    if (ids?.[0]?.id !== current) {
      if (!ids && this.announced.size >= MAX_ADDRESSES_REMEMBERED) {
        this.announced.clear()
        this.heardSeen.clear() // a list merged into what was cleared must be merged again
      }
      ids = ids ?? []
      const at = ids.findIndex((e) => e.id === current)
      const entry = at >= 0 ? ids.splice(at, 1)[0]! : { id: current, turns: 0 }
      entry.turns++
      if (ids.length >= IDS_REMEMBERED) ids.splice(leastWorth(ids, usable), 1)
      ids.unshift(entry)
      this.announced.set(peer, ids)
    }
    if (heard !== undefined && this.heardSeen.get(peer) !== heard) {
      // A new list (the dictionary makes one on each change): the IDs not yet remembered join, as never the newest.
      this.heardSeen.set(peer, heard)
      for (const id of heard) {
        if (ids.some((e) => e.id === id)) continue
        if (ids.length >= IDS_REMEMBERED) ids.splice(leastWorth(ids, usable), 1)
        ids.splice(Math.min(1, ids.length), 0, { id, turns: 0 })
      }
    }
    let best: { id: string; turns: number } | undefined
    for (let i = ids.length - 1; i >= 0; i--) {
      const e = ids[i]!
      if ((best === undefined || e.turns > best.turns) && usable(e.id)) best = e
    }
    return best?.id ?? current
  }

  /** A peer ID that `peer` may be dialled with: valid, not refused there, on the allow-list if any. */
  private usableId(peer: string, id: string): KnownId | undefined {
    const known = this.known(id)
    if (known === undefined || this.refusals.has(refusalKey(peer, known.id))) return undefined
    return !this.trust?.allow || this.trust.allow.allows(known.key) ? known : undefined
  }

  private known(text: string): KnownId | undefined {
    let known = this.parsed.get(text)
    if (known === undefined) {
      if (this.parsed.size >= MAX_IDS_PARSED) this.parsed.clear()
      const parsed = parseKeyText(text)
      known = 'problem' in parsed ? null : { key: parsed.key, id: formatPeerId(parsed.key) }
      this.parsed.set(text, known)
    }
    return known ?? undefined
  }

  /**
   * `key` is not used, for `why`: said in the log the first time (counted-lines.ts: a stranger announcing a fresh
   * port in each datagram had a line written for every one, without end), and remembered, boundedly.
   */
  private skip(key: string, why: string): false {
    if (this.skipped.has(key)) return false
    this.skipped.touch(key, true)
    if (this.skipped.size > MAX_SKIPPED) this.skipped.deleteOldest()
    this.skipLines.say({ peer: key, why })
    return false
  }
}

/**
 * Peer IDs remembered per address: a stranger must forge more than this many between two of a seeder's
 * announcements (5 s apart by default: 6 a second) to push its own out. At most ~4 MB for all addresses.
 */
const IDS_REMEMBERED = 32
/** Peers passed over that are remembered as such (one forgotten is passed over again, at most logged again). */
const MAX_SKIPPED = 4096
const MAX_ADDRESSES_REMEMBERED = 1024
/** Parsed peer ID texts kept (about 300 bytes each); past it the cache starts again, costing only a reparse. */
const MAX_IDS_PARSED = 4096

/** The remembered ID to forget for a new one: a refused one, else the newest of those that came back least. */
function leastWorth(ids: ReadonlyArray<{ id: string; turns: number }>, usable: (id: string) => boolean): number {
  let worst = 0
  for (let i = 0; i < ids.length; i++) {
    if (!usable(ids[i]!.id)) return i
    if (ids[i]!.turns < ids[worst]!.turns) worst = i
  }
  return worst
}

/** The transport a peer announces (an announcement without `transport` is plain: protocol.md §5). */
const speaks = (p: LivePeer): TransportMode => (p.transport === 'noise' ? 'encrypted' : 'plain')

function refusalKey(peer: string, peerId: string | undefined): string {
  return `${peer} ${peerId ?? '-'}`
}

/** The peer IDs a dial's options accept: every one offered, or the one named first (`named`). */
export function offeredIds(secure: SecureOptions, named = false): string[] {
  const keys = named || !secure.expectedRemoteKeys ? [secure.expectedRemoteKey] : secure.expectedRemoteKeys
  return keys.flatMap((k) => (k ? [formatPeerId(k)] : []))
}
