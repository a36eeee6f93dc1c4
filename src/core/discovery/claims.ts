import { isIPv6 } from 'node:net'
import type { Bitfield } from '../bitfield.js'
import type { ReadonlyLruMap } from '../lru-map.js'

/**
 * Claims: one peer's word about one file id (the name, size and chunk count
 * it gives and the chunks it says it has), and how a set of them is shown.
 * Announced metadata is a claim, not a fact: the manifest, whose SHA-256 is
 * the id, is the only truth.
 */

/** One peer's claim about one file. */
export interface PeerSource {
  /** The peer ID it announced (an older peer's random store id). */
  peer: string
  /**
   * Where claims only add (a download's own dictionary): every peer ID its address and port were announced with
   * lately, heard longest ago first, `peer` last (at most PEER_IDS_HEARD). A source address can be forged, so
   * each is only a claim: a download tries them, and a forged one costs one refused connection.
   */
  heard?: readonly string[]
  /** "noise": it speaks the encrypted transport (docs/protocol.md §5); absent: plain. */
  transport?: 'noise'
  address: string
  port: number
  /** Name, size and chunk count as this peer gives them. */
  name: string
  size: number
  chunks: number
  /** A folder: how many files this peer says it holds (announcement "files"). */
  files?: number
  /** One bit per chunk of this peer's `chunks`. */
  have: Bitfield
  lastSeen: number
}

/** Whether two claims about one id say the same name, size, chunk count and file count (what a claim is, have-set aside). */
export const sameClaim = (a: ClaimWords, b: ClaimWords): boolean =>
  a.name === b.name && a.size === b.size && a.chunks === b.chunks && a.files === b.files

/** What a claim says of its file. */
type ClaimWords = Pick<PeerSource, 'name' | 'size' | 'chunks' | 'files'>

/** A file id with every claim about it; name, size and chunks are the claim most peers make (for display only). */
export interface KnownFile {
  id: string
  name: string
  size: number
  chunks: number
  /** A folder of this many files (the claim shown); absent for a file. */
  files?: number
  /** Peers disagree about the name, size or chunk count (the manifest will tell). */
  disputed: boolean
  peers: PeerSource[]
}

/**
 * The oldest claim of the address that makes the most claims in `claims` (which is in least-recently-heard order;
 * among addresses making as many, the one whose oldest claim is oldest). `perAddress`: how many each address makes
 * there, kept as claims come and go (claim-index.ts), so a flood of fresh fake peers, evicting one claim per
 * datagram, costs a look at the file's addresses and the claims up to the first of the commonest one's, not a
 * count of up to 256 claims each time (a count per call was ~3 % of a flooded download's CPU).
 */
export function oldestOfCommonest<T extends { address: string }>(
  claims: ReadonlyLruMap<string, T>,
  perAddress: ReadonlyMap<string, number>,
): T {
  let most = 0
  for (const count of perAddress.values()) if (count > most) most = count
  for (const c of claims.values()) if (perAddress.get(c.address) === most) return c
  return claims.oldest()!
}

/**
 * One file id seen through its claims: name, size and chunk count of the
 * claim most peers make (ties: the one heard most recently), restricted to
 * claims under `name` when given. For display and lookup only; the manifest
 * is the truth.
 */
export function summarizeClaims(id: string, peers: PeerSource[], name?: string): KnownFile {
  const votes = new Map<string, { claim: PeerSource; count: number }>()
  for (const p of peers) {
    const vote = JSON.stringify([p.name, p.size, p.chunks, p.files])
    const entry = votes.get(vote)
    if (entry) {
      entry.count++
      if (p.lastSeen > entry.claim.lastSeen) entry.claim = p
    } else {
      votes.set(vote, { claim: p, count: 1 })
    }
  }
  let best: { claim: PeerSource; count: number } | undefined
  for (const v of votes.values()) {
    if (name !== undefined && v.claim.name !== name) continue
    if (!best || v.count > best.count || (v.count === best.count && v.claim.lastSeen > best.claim.lastSeen)) best = v
  }
  const shown = best?.claim ?? peers[0]
  return {
    id,
    name: name ?? shown?.name ?? '',
    size: shown?.size ?? 0,
    chunks: shown?.chunks ?? 0,
    ...(shown?.files !== undefined ? { files: shown.files } : {}),
    disputed: votes.size > 1,
    peers,
  }
}

/**
 * A claim of the manifest's chunk count that names or sizes the file otherwise: the chunks it holds stand, the
 * rest is the peer's latest word (a download's dictionary, once settled: dictionary.ts). Returns true if anything
 * changed.
 */
export function renamed(claim: PeerSource, f: Pick<PeerSource, 'name' | 'size' | 'files'>): boolean {
  if (claim.name === f.name && claim.size === f.size && claim.files === f.files) return false
  claim.name = f.name
  claim.size = f.size
  if (f.files !== undefined) claim.files = f.files
  else delete claim.files
  return true
}

/** Whether one of `peers` (`self` aside) is heard at an IPv6 address and at no IPv4 one (dictionary.ts). */
export function ipv6OnlyPeerAmong(peers: Iterable<{ peer: string; address: string }>, self?: string): boolean {
  const overIpv4 = new Set<string>()
  const overIpv6: string[] = []
  for (const p of peers) {
    if (p.peer === self) continue
    if (isIPv6(p.address)) overIpv6.push(p.peer)
    else overIpv4.add(p.peer)
  }
  return overIpv6.some((id) => !overIpv4.has(id))
}
