import { ByteRateLimit } from '../rate-limit.js'
import type { Claim, ClaimIndex, PeerRecord } from './claim-index.js'
import { oldestOfCommonest } from './claims.js'
import { type DictionaryLimits, HAVE_BURST_PER_ADDRESS } from './dictionary-limits.js'

/**
 * Room in the content dictionary (dictionary.ts): whether a claim fits its
 * caps (dictionary-limits.ts), and who is evicted to make room for it.
 *
 * One source address holds at most `maxBytesPerAddress` and
 * `maxPeersPerAddress` peers and evicts its own oldest first, so a flooding
 * host pushes out only itself; past `maxBytes`, `maxFiles` or
 * `maxPeersPerFile` the most invested source gives up its oldest first;
 * past `maxPeers` the most crowded address (the most peers) gives up the peer
 * it was heard from longest ago, so an honest peer that announces every
 * interval is not pushed out by fake peers from many addresses, each newer
 * than it (an attacker's flood from 64 addresses had it missing from
 * p2p-listen's dictionary four times in five). Making a have-set is
 * rate-limited per address (a quarter of HAVE_BURST_PER_ADDRESS a second,
 * all of it at once) and in all (a quarter of the byte cap a second): an honest peer's is made once and updated in place, while
 * claims that evict each other would cost a 2 MiB allocation per 200-byte
 * entry.
 */

/** How many of the richest address's oldest claims the file cap looks through for a file only it claims. */
const SOLE_CLAIM_SEARCH = 64

/** Why a claim found no room. */
export type RoomRefusal = 'allocation-rate' | 'over-budget'

export class DictionaryRoom {
  /** Bytes of have-sets made, per source address and in all. */
  private readonly allocations: ByteRateLimit

  /** `stats.evicted` counts the claims evicted (the dictionary's stats). */
  constructor(
    private readonly index: ClaimIndex,
    private readonly limits: DictionaryLimits,
    private readonly stats: { evicted: number },
  ) {
    const { maxBytesPerAddress, maxBytes } = limits
    const burst = Math.min(maxBytesPerAddress, HAVE_BURST_PER_ADDRESS)
    this.allocations = new ByteRateLimit({
      perSecond: burst / 4,
      burst,
      totalPerSecond: maxBytes / 4,
      totalBurst: maxBytes,
      now: () => 0,
    })
  }

  /** Before a new peer from `address`: its own oldest peer goes past maxPeersPerAddress, else the most crowded address's past maxPeers. */
  makeRoomForPeer(address: string): void {
    const own = this.index.address(address)?.peers
    if (own && own.size >= this.limits.maxPeersPerAddress) this.evictPeer(own.oldest()!)
    else if (this.index.peers.size >= this.limits.maxPeers) this.evictPeer(this.index.crowdest()!.peers.oldest()!)
  }

  /**
   * Room for a claim about `id` from `address` that costs `cost` once applied, `haveBytes` of it a have-set to be
   * made (0: none). `claim`, the peer's claim the entry updates, is taken out of every order while room is made
   * around it (`attach` puts it back), or dropped when the entry is refused. Returns why it is refused, if it is.
   */
  admitClaim(
    id: string,
    address: string,
    cost: number,
    haveBytes: number,
    claim: Claim | undefined,
    now: number,
  ): RoomRefusal | undefined {
    if (
      haveBytes > 0 &&
      (claim?.have.heldBytes ?? 0) === 0 &&
      cost <= this.limits.maxBytesPerAddress &&
      !this.allocations.take(address, haveBytes, now)
    ) {
      if (claim) this.index.drop(claim)
      return 'allocation-rate'
    }
    if (claim) this.index.detach(claim)
    else if (cost <= this.limits.maxBytesPerAddress && cost <= this.limits.maxBytes) this.makeRoomForClaim(id)
    if (
      cost > this.limits.maxBytesPerAddress ||
      cost > this.limits.maxBytes ||
      !this.makeRoomForBytes(address, cost - (claim?.cost ?? 0))
    ) {
      if (claim) this.index.drop(claim, false)
      return 'over-budget'
    }
    return undefined
  }

  /**
   * Per-file and file-count caps, before a new claim about `id`; the source
   * with the most at stake goes first, so one flooding host cannot push out
   * what others claim: past maxPeersPerFile, the oldest claim of the address
   * with the most claims on that file; past maxFiles, the oldest file that
   * only the richest address claims (among its SOLE_CLAIM_SEARCH oldest
   * claims), else the oldest file.
   */
  private makeRoomForClaim(id: string): void {
    const claims = this.index.files.get(id)
    if (claims) {
      if (claims.size >= this.limits.maxPeersPerFile)
        this.evict(oldestOfCommonest(claims, this.index.fileAddresses(id)!))
      return
    }
    if (this.index.files.size < this.limits.maxFiles) return
    let looked = 0
    for (const claim of this.index.richest()?.claims.values() ?? []) {
      if (this.index.files.get(claim.id)?.size === 1) {
        this.evict(claim)
        return
      }
      if (++looked === SOLE_CLAIM_SEARCH) break // a source whose oldest claims are all shared is no flooder of new ids
    }
    for (const claim of [...this.index.files.oldest()!.values()]) this.evict(claim)
  }

  /** Evict until `extra` more bytes from `address` fit both byte caps; false if they cannot. */
  private makeRoomForBytes(address: string, extra: number): boolean {
    const own = this.index.place(address)
    while (own.bytes + extra > this.limits.maxBytesPerAddress) {
      const oldest = own.claims.oldest()
      if (!oldest) return false
      this.evict(oldest)
    }
    while (this.index.bytes() + extra > this.limits.maxBytes) {
      const richest = this.index.richest()
      if (!richest) return false
      this.evict(richest.claims.oldest()!)
    }
    return true
  }

  /** A peer goes to stay within a cap: its claims count as evicted. */
  private evictPeer(peer: PeerRecord): void {
    this.stats.evicted += peer.ids.size
    this.index.removePeer(peer.key)
  }

  private evict(claim: Claim): void {
    this.stats.evicted++
    this.index.drop(claim)
  }
}
