import { IndexedHeap } from '../indexed-heap.js'
import { LruMap, type ReadonlyLruMap } from '../lru-map.js'
import type { PeerSource } from './claims.js'

/**
 * The content dictionary's bookkeeping: every claim in four orders — all
 * claims, per file id, per peer, per source address — and the bytes they
 * cost, in all and per address. It decides nothing (dictionary.ts chooses
 * what to admit and refuse, dictionary-room.ts what to evict, and
 * dictionary-limits.ts what a claim costs); it keeps the
 * invariants that decisions rely on: each attached claim is in every order
 * it belongs to, each peer knows the ids it claims, and each total is the
 * sum of its claims' costs. Only these methods change the orders, so
 * outside this class they are read-only views. Every change is O(1), or
 * O(log addresses) where it moves an address in the two heaps that keep the
 * richest and the most crowded one at hand.
 */

/** A claim as the dictionary holds it: whose (peer key) and what it costs. */
export interface Claim extends PeerSource {
  id: string
  key: string
  cost: number
}

export interface PeerRecord {
  key: string
  address: string
  peer: string
  /** Where claims only add: the peer IDs heard for it lately (PeerSource.heard). */
  heard?: readonly string[]
  transport: 'noise' | undefined
  lastSeen: number
  ids: Set<string>
}

interface AddressRecord {
  bytes: number
  /** By peer key, least recently heard first. */
  peers: LruMap<string, PeerRecord>
  /** By claim key, least recently heard first. */
  claims: LruMap<string, Claim>
}

/** One source address as the dictionary may read it. */
export interface AddressView {
  readonly bytes: number
  readonly peers: ReadonlyLruMap<string, PeerRecord>
  readonly claims: ReadonlyLruMap<string, Claim>
}

/** A peer is (source address of its datagrams, never one the payload names; TCP port). */
export const claimPeerKey = (address: string, port: number): string => `${address}:${port}`
const claimKey = (id: string, key: string): string => `${id} ${key}`

export class ClaimIndex {
  private readonly claimOrder = new LruMap<string, Claim>()
  private readonly byFile = new LruMap<string, LruMap<string, Claim>>()
  /** id → source address → its claims on that id (kept with `byFile`: the file cap asks for it on each flood datagram). */
  private readonly byFileAddress = new Map<string, Map<string, number>>()
  private readonly peerOrder = new LruMap<string, PeerRecord>()
  private readonly addresses = new Map<string, AddressRecord>()
  /** Addresses holding a claim, the most bytes first. */
  private readonly byBytes = new IndexedHeap<AddressRecord>((a, b) => a.bytes > b.bytes)
  /** Addresses holding a peer, the most peers first; among equals, the one whose least recently heard peer was heard longest ago. */
  private readonly byPeers = new IndexedHeap<AddressRecord>(
    (a, b) =>
      a.peers.size > b.peers.size ||
      (a.peers.size === b.peers.size && a.peers.oldest()!.lastSeen < b.peers.oldest()!.lastSeen),
  )
  private heldBytes = 0

  /** Every claim, least recently heard first. */
  get claims(): ReadonlyLruMap<string, Claim> {
    return this.claimOrder
  }

  /** id → peer key → claim; ids least recently heard first. */
  get files(): ReadonlyLruMap<string, ReadonlyLruMap<string, Claim>> {
    return this.byFile
  }

  /** Peers, least recently heard first. */
  get peers(): ReadonlyLruMap<string, PeerRecord> {
    return this.peerOrder
  }

  /** How many claims on `id` each source address makes (absent: none). */
  fileAddresses(id: string): ReadonlyMap<string, number> | undefined {
    return this.byFileAddress.get(id)
  }

  claim(id: string, key: string): Claim | undefined {
    return this.claimOrder.get(claimKey(id, key))
  }

  /** Bytes of claims held, in all or from one source address. */
  bytes(address?: string): number {
    return address === undefined ? this.heldBytes : (this.addresses.get(address)?.bytes ?? 0)
  }

  /** The source address, if it holds any peer, claim or byte. */
  address(address: string): AddressView | undefined {
    return this.addresses.get(address)
  }

  /** The address holding the most bytes of claims (among those holding a claim). */
  richest(): AddressView | undefined {
    return this.byBytes.top()
  }

  /** The address holding the most peers; among equals, the one whose least recently heard peer was heard longest ago. */
  crowdest(): AddressView | undefined {
    return this.byPeers.top()
  }

  /** The source address, made if it is new. */
  place(address: string): AddressView {
    return this.placeRecord(address)
  }

  /** Put a peer at the most-recent end of both peer orders. */
  touchPeer(record: PeerRecord): void {
    this.peerOrder.touch(record.key, record)
    const address = this.placeRecord(record.address)
    address.peers.touch(record.key, record)
    this.byPeers.update(address)
  }

  /** Set a claim's cost, keeping the byte totals in step. */
  account(claim: Claim, cost: number): void {
    const delta = cost - claim.cost
    claim.cost = cost
    const address = this.placeRecord(claim.address)
    address.bytes += delta
    this.heldBytes += delta
    this.rank(address)
  }

  /** Put a claim of `peer`'s at the most-recent end of every order it is in; the peer knows its id. */
  attach(claim: Claim, peer: PeerRecord): void {
    const ck = claimKey(claim.id, claim.key)
    peer.ids.add(claim.id)
    this.claimOrder.touch(ck, claim)
    const claims = this.byFile.get(claim.id) ?? new LruMap<string, Claim>()
    if (!claims.has(claim.key)) this.countFileAddress(claim, 1)
    claims.touch(claim.key, claim)
    this.byFile.touch(claim.id, claims)
    const address = this.placeRecord(claim.address)
    address.claims.touch(ck, claim)
    this.rank(address)
  }

  /** Take a claim out of every order (its bytes stay counted) while room is made around it. */
  detach(claim: Claim): void {
    const ck = claimKey(claim.id, claim.key)
    this.claimOrder.delete(ck)
    const address = this.addresses.get(claim.address)
    if (address?.claims.delete(ck)) this.rank(address)
    const claims = this.byFile.get(claim.id)
    if (claims?.delete(claim.key)) this.countFileAddress(claim, -1)
    if (claims?.size === 0) this.byFile.delete(claim.id)
  }

  /** Forget a claim: out of every order (unless `attached` is false: detached already) and its bytes uncounted. */
  drop(claim: Claim, attached = true): void {
    if (attached) this.detach(claim)
    this.account(claim, 0)
    this.peerOrder.get(claim.key)?.ids.delete(claim.id)
    this.forgetAddressIfEmpty(claim.address)
  }

  /** Forget a peer and every claim it made. */
  removePeer(key: string): void {
    const record = this.peerOrder.get(key)
    if (!record) return
    for (const id of [...record.ids]) {
      const claim = this.claimOrder.get(claimKey(id, key))
      if (claim) this.drop(claim)
    }
    this.peerOrder.delete(key)
    const address = this.addresses.get(record.address)
    if (address?.peers.delete(key)) this.rank(address)
    this.forgetAddressIfEmpty(record.address)
  }

  private countFileAddress(claim: Claim, delta: 1 | -1): void {
    let counts = this.byFileAddress.get(claim.id)
    if (!counts) {
      counts = new Map()
      this.byFileAddress.set(claim.id, counts)
    }
    const count = (counts.get(claim.address) ?? 0) + delta
    if (count > 0) counts.set(claim.address, count)
    else counts.delete(claim.address)
    if (counts.size === 0) this.byFileAddress.delete(claim.id)
  }

  private placeRecord(address: string): AddressRecord {
    let record = this.addresses.get(address)
    if (!record) {
      record = { bytes: 0, peers: new LruMap(), claims: new LruMap() }
      this.addresses.set(address, record)
    }
    return record
  }

  /** Put an address in its place in both heaps, or out of a heap it no longer belongs in. */
  private rank(address: AddressRecord): void {
    if (address.claims.size > 0) this.byBytes.update(address)
    else this.byBytes.delete(address)
    if (address.peers.size > 0) this.byPeers.update(address)
    else this.byPeers.delete(address)
  }

  private forgetAddressIfEmpty(address: string): void {
    const record = this.addresses.get(address)
    if (record && record.peers.size === 0 && record.claims.size === 0 && record.bytes === 0)
      this.addresses.delete(address)
  }
}
