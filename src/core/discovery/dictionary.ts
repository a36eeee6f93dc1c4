import { Bitfield } from '../bitfield.js'
import type { ReadonlyLruMap } from '../lru-map.js'
import type { AnnouncedFile, Announcement } from './announcement.js'
import { ClaimIndex, claimPeerKey, type PeerRecord } from './claim-index.js'
import { ipv6OnlyPeerAmong, type KnownFile, type PeerSource, renamed, sameClaim, summarizeClaims } from './claims.js'
import { claimCost, DEFAULT_DICTIONARY_LIMITS, type DictionaryLimits } from './dictionary-limits.js'
import { DictionaryRoom } from './dictionary-room.js'

export type { KnownFile, PeerSource } from './claims.js'
export { CLAIM_OVERHEAD_BYTES, DEFAULT_DICTIONARY_LIMITS, type DictionaryLimits } from './dictionary-limits.js'

/**
 * The content dictionary: what each peer claims (claims.ts). A peer is
 * (source address of its datagrams, never one the payload names; TCP port).
 * Claims are kept per (id, peer) and never override each other, so a
 * stranger who gives an honest id another name or one chunk more hides no
 * honest peer, and a name claimed for two ids stays ambiguous whoever spoke
 * first; only the manifest decides which claim was right.
 *
 * Bounded in bytes and counts. A claim costs CLAIM_OVERHEAD_BYTES, twice its
 * name's length and its have-set (nothing for "all", ⌈chunks / 8⌉ bytes
 * otherwise); who gives way when a cap is reached, and how fast have-sets
 * may be made, is dictionary-room.ts. Orders are kept in LruMaps, so
 * evictions and expiry are O(1) (the richest and the most crowded address
 * are kept in heaps: O(log addresses)). Times are on the caller's clock (the
 * listener's is monotonic) and never go backwards.
 *
 * This file decides what a claim says and what is admitted or refused;
 * dictionary-room.ts whether it fits the caps and what is evicted for it;
 * claim-index.ts keeps the four orders (claims, files, peers,
 * addresses) and the byte totals, one structure whose invariants only its
 * methods keep, read here through read-only views. Claims' types and their
 * summary are claims.ts; what a claim costs, dictionary-limits.ts; the byte
 * rate limit, rate-limit.ts; the orders, lru-map.ts.
 */

/** Ids whose chunk count a download's dictionary remembers (`settle`): a download settles one. */
const SETTLED_IDS = 16

export interface DictionaryStats {
  /** Claims refused, by reason. */
  refused: Record<string, number>
  /** Claims evicted to stay within a cap. */
  evicted: number
}

export class ContentDictionary {
  readonly limits: DictionaryLimits
  readonly stats: DictionaryStats = { refused: {}, evicted: 0 }
  /** Chunk counts that manifests gave, by id (`settle`). */
  private readonly settled = new Map<string, number>()
  private readonly index = new ClaimIndex()
  /** Whether a claim fits the caps, and who is evicted for it. */
  private readonly room: DictionaryRoom

  /**
   * `claimsOnlyAdd` (a download's): a peer's claims about a file only add chunks while they give it the same
   * name, size and chunk count, and once `settle`d a claim of another count is refused: anyone can forge a
   * seeder's announcement outside a private swarm (docs/protocol.md, "A download believes…"). By default a
   * peer's new word replaces its old one. `heeded` (with an allow-list): only the peer IDs it lists join a
   * peer's `heard` list, so unlisted ones forged for a listed seeder's address cannot push its own out.
   */
  constructor(
    limits: Partial<DictionaryLimits> = {},
    private readonly claimsOnlyAdd = false,
    private readonly heeded?: (peer: string) => boolean,
  ) {
    this.limits = { ...DEFAULT_DICTIONARY_LIMITS, ...limits }
    this.room = new DictionaryRoom(this.index, this.limits, this.stats)
  }

  get fileCount(): number {
    return this.index.files.size
  }

  get peerCount(): number {
    return this.index.peers.size
  }

  get claimCount(): number {
    return this.index.claims.size
  }

  /** Bytes of claims held, in all or from one source address. */
  bytes(address?: string): number {
    return this.index.bytes(address)
  }

  /** Apply one announcement from `address`; returns true if anything visible changed. */
  merge(a: Announcement, address: string, now: number): boolean {
    const key = claimPeerKey(address, a.port)
    if (a.files.length === 0) return this.goodbye(key, a.peer)
    const peer = this.admitPeer(key, address, a.peer, now)
    peer.transport = a.transport
    let changed = false
    for (const f of a.files) changed = this.mergeClaim(peer, a.port, f, now) || changed
    return changed
  }

  /**
   * A download's manifest says file `id` has `chunks` chunks: the claims of another count go now and are refused
   * from now on (`claimsOnlyAdd` only). Bounded: the last SETTLED_IDS ids are remembered.
   */
  settle(id: string, chunks: number): void {
    if (!this.claimsOnlyAdd) return
    this.settled.delete(id)
    this.settled.set(id, chunks)
    if (this.settled.size > SETTLED_IDS) this.settled.delete(this.settled.keys().next().value!)
    for (const claim of [...(this.index.files.get(id)?.values() ?? [])]) {
      if (claim.chunks === chunks) continue
      this.index.drop(claim)
      this.refuse('unlike-manifest')
    }
  }

  /** Drop every claim and peer not heard from since `now - staleAfterMs`; returns true if any claim went. */
  expire(now: number, staleAfterMs: number): boolean {
    const cutoff = now - staleAfterMs
    let changed = false
    for (const claim of this.index.claims.values()) {
      if (claim.lastSeen >= cutoff) break
      this.index.drop(claim)
      changed = true
    }
    for (const peer of this.index.peers.values()) {
      if (peer.lastSeen >= cutoff) break
      this.index.removePeer(peer.key)
    }
    return changed
  }

  /**
   * Whether some peer (`self`, our own id, aside) is heard at an IPv6 address and at no IPv4 one: a host on
   * IPv6 alone, which hears only what goes to the IPv6 groups. Every peer heard within the stale window counts.
   * A peer heard at an IPv4 address is taken to hear our IPv4 broadcast: one that names us by unicast from
   * another IPv4 subnet of the link hears our changes only every interval (docs/protocol.md, "Families").
   */
  hearsIpv6OnlyPeer(self?: string): boolean {
    return ipv6OnlyPeerAmong(this.index.peers.values(), self)
  }

  files(): KnownFile[] {
    return [...this.index.files.entries()].map(([id, claims]) => summarizeClaims(id, [...claims.values()]))
  }

  /** Every claim by file id, as held, not summarized (a look at the claims on every change must not copy them all). */
  get claims(): ReadonlyLruMap<string, ReadonlyLruMap<string, PeerSource>> {
    return this.index.files
  }

  file(id: string): KnownFile | undefined {
    const claims = this.index.files.get(id)
    return claims && summarizeClaims(id, [...claims.values()])
  }

  /**
   * A goodbye ("files":[]) counts only from the peer id that key announced, and not at all in a download's
   * dictionary (`claimsOnlyAdd`): a stranger's forged one after each of a seeder's bursts kept the seeder out of
   * a download that had not yet followed it; a seeder that did leave fails its next request, and expires.
   */
  private goodbye(key: string, peer: string): boolean {
    const record = this.index.peers.get(key)
    if (!record) return false
    if (this.claimsOnlyAdd) return this.refuse('goodbye-unheeded')
    if (record.peer !== peer) return this.refuse('goodbye-peer-id')
    this.index.removePeer(key)
    return true
  }

  private admitPeer(key: string, address: string, peerId: string, now: number): PeerRecord {
    let record = this.index.peers.get(key)
    if (!record) {
      this.room.makeRoomForPeer(address)
      record = { key, address, peer: peerId, transport: undefined, lastSeen: now, ids: new Set() }
    }
    record.peer = peerId
    if (this.claimsOnlyAdd && (this.heeded === undefined || this.heeded(peerId)))
      record.heard = withLatest(record.heard, peerId)
    record.lastSeen = now
    this.index.touchPeer(record)
    return record
  }

  private mergeClaim(peer: PeerRecord, port: number, f: AnnouncedFile, now: number): boolean {
    let claim = this.index.claim(f.id, peer.key)
    let changed = false
    const chunks = this.settled.get(f.id)
    if (chunks !== undefined) {
      if (f.chunks !== chunks) return this.refuse('unlike-manifest')
      if (claim) changed = renamed(claim, f)
    }
    if (claim && !sameClaim(claim, f)) {
      this.index.drop(claim) // this peer now says something else about the id: its new word replaces its own old one, nobody else's
      claim = undefined
      changed = true
    }
    // What the claim costs once this entry is applied: "all" holds no have-set, a slice the whole field.
    // A slice over a claim of every chunk adds nothing where claims only add: no have-set is made for it, nor
    // charged (charged, forged slices had the rate limit drop the seeder's claim of "all").
    const addsNothing = this.claimsOnlyAdd && claim !== undefined && claim.have.heldBytes === 0
    const haveBytes = f.have === 'all' || addsNothing ? 0 : Math.ceil(f.chunks / 8)
    const refusal = this.room.admitClaim(f.id, peer.address, claimCost(f.name, haveBytes), haveBytes, claim, now)
    if (refusal) {
      this.refuse(refusal)
      return changed || claim !== undefined
    }
    if (!claim) {
      const have = f.have === 'all' ? Bitfield.full(f.chunks) : new Bitfield(f.chunks)
      claim = {
        id: f.id,
        key: peer.key,
        peer: peer.peer,
        address: peer.address,
        port,
        name: f.name,
        size: f.size,
        chunks: f.chunks,
        ...(f.files !== undefined ? { files: f.files } : {}),
        have,
        lastSeen: now,
        cost: 0,
      }
      changed = true
    }
    claim.peer = peer.peer
    if (peer.heard) claim.heard = peer.heard
    // Where claims only add, "noise" stays: a forged plain claim would have hidden the path (the encrypted
    // transport never falls back to plain).
    if (peer.transport) claim.transport = peer.transport
    else if (!this.claimsOnlyAdd) delete claim.transport
    claim.lastSeen = now
    if (f.have === 'all') {
      changed ||= claim.have.heldBytes > 0 // was a have-set (perhaps complete already: a harmless extra 'change')
      if (claim.have.heldBytes > 0) claim.have = Bitfield.full(f.chunks)
    } else {
      const slice = f.from / 8
      const bits = this.claimsOnlyAdd
        ? claim.have.addBytes(slice, f.have.bytes)
        : claim.have.setBytes(slice, f.have.bytes)
      changed = bits || changed
    }
    this.index.account(claim, claimCost(f.name, claim.have.heldBytes))
    this.index.attach(claim, peer)
    return changed
  }

  private refuse(reason: string): false {
    this.stats.refused[reason] = (this.stats.refused[reason] ?? 0) + 1
    return false
  }
}

/**
 * Peer IDs heard for one address and port, where claims only add: a stranger forging the seeder's address with two
 * peer IDs in turn, 500 datagrams a second, kept its own from the downloads that sampled the newest (attacker,
 * fifty-first session). At most 32 times ~150 bytes for each of the dictionary's 1,000 peers.
 */
export const PEER_IDS_HEARD = 32

/** `heard` with `id` moved (or added) last, the one heard longest ago dropped past PEER_IDS_HEARD; a new array on change. */
function withLatest(heard: readonly string[] | undefined, id: string): readonly string[] {
  if (heard === undefined) return [id]
  if (heard[heard.length - 1] === id) return heard
  const next = heard.filter((h) => h !== id)
  next.push(id)
  return next.length > PEER_IDS_HEARD ? next.slice(next.length - PEER_IDS_HEARD) : next
}
