import { counted } from '../counted.js'
import { P2PError } from '../errors.js'
import type { Unavailable } from './chunk-choice.js'
import type { RefusedUs } from './refused-us.js'
import type { Scheduler } from './scheduler.js'

/** How often, while no peer is busy, the chunks no live peer has are counted. */
const STALL_CHECK_MS = 100

/**
 * Chunks that no live peer has: counted while no peer is busy, waited for
 * up to --wait, then `E_NO_PEER` naming them and why peers that claimed
 * them no longer count (banned, written off; `E_CHECKSUM` when every live
 * peer was banned for bad data or broken responses); or `E_AUTH` when the
 * peers that refused our key are all there was (refused-us.ts), as soon as
 * that has settled, not at --wait. The count walks every
 * chunk (chunk-counts.ts keeps who holds each), so it runs at most every
 * 100 ms, not at each answer: a peer denying 200,000 chunks one by one
 * leaves moments with nothing in flight between its answers.
 */
export class StallWatch {
  /** The chunks as last counted; undefined while some peer is busy, or none is missing. */
  current: Unavailable | undefined
  private since: number | undefined
  private checkedAt = -Infinity

  constructor(
    private readonly scheduler: Scheduler,
    private readonly lengthOf: (index: number) => number,
    private readonly waitMs: number,
    private readonly now: () => number,
    /** The peers that refused our key (refused-us.ts). */
    private readonly refused?: RefusedUs,
  ) {}

  /** Call at each turn of the download's loop with its live peers; throws once the wait is over. */
  check(livePeers: readonly string[]): void {
    const busy = livePeers.some(
      (k) => this.scheduler.inFlight(k) > 0 || (this.scheduler.readyIn(k) < Infinity && this.scheduler.readyIn(k) > 0),
    )
    if (busy || this.now() - this.checkedAt >= STALL_CHECK_MS) {
      this.current = busy ? undefined : this.scheduler.unavailable(this.lengthOf)
      this.checkedAt = busy ? -Infinity : this.now()
    }
    if (this.current === undefined || this.current.chunks === 0) {
      this.current = undefined
      this.since = undefined
      return
    }
    this.since ??= this.now()
    const refusedOnly = this.refusedOnly(livePeers)
    if (this.now() - this.since < this.waitMs && !(refusedOnly && this.refused!.settled())) return
    // Counted afresh before giving up: the last count may be up to 100 ms old.
    this.current = this.scheduler.unavailable(this.lengthOf)
    this.checkedAt = this.now()
    const { chunks, bytes, first } = this.current
    if (chunks === 0) {
      this.current = undefined
      this.since = undefined
      return
    }
    const report = this.scheduler.report()
    const banned = report.filter((p) => p.banned).length
    const writtenOff = report.filter((p) => p.writtenOff).length
    // Bad data is the answer only when no live peer is left unbanned; a peer banned and gone does not count.
    const liveBanned = livePeers.filter((k) => this.scheduler.isBanned(k)).length
    const code = liveBanned > 0 && liveBanned === livePeers.length ? 'E_CHECKSUM' : 'E_NO_PEER'
    const stalled = `${counted(chunks, 'chunk')} (${counted(bytes, 'byte')}, first: ${first.join(', ')}) ${chunks === 1 ? 'has' : 'have'} no live peer`
    if (refusedOnly) throw this.refused!.error(stalled, chunks === 1 ? 'it' : 'them')
    // Why the peers that claimed chunks hold none now (protocol.md §3): a ban (bad data or broken responses) or a write-off.
    // A peer that announced a chunk and answered "not found": a seeder whose shared file was edited or removed
    // since (its server refuses what no longer matches the manifest), said so rather than "no live peer" alone.
    const deniers = this.scheduler.deniersOf(first)
    const why = [
      ...(banned ? [`${counted(banned, 'peer')} banned for bad data or broken responses`] : []),
      ...(writtenOff ? [`${counted(writtenOff, 'peer')} written off: nothing delivered for too long`] : []),
      ...(deniers
        ? [
            `${counted(deniers, 'peer')} that announced ${chunks === 1 ? 'it' : 'them'} answered "not found" (its copy changed or removed since it was shared, or a false claim)`,
          ]
        : []),
    ]
    throw new P2PError(
      code,
      `${stalled}${why.length ? ` (${why.join('; ')})` : ''}${this.refused?.clause() ?? ''}; re-run when a seeder is back to resume`,
      { chunks, bytes },
    )
  }

  /**
   * Whether refusals of our key are why: no live peer is left, some peer refused us, and no peer but those that
   * refused delivered a chunk in this download (one that did and left may come back: --wait is waited for it).
   */
  private refusedOnly(livePeers: readonly string[]): boolean {
    const refused = this.refused
    if (refused === undefined || refused.size === 0 || livePeers.length > 0) return false
    return !this.scheduler.report().some((p) => p.bytes > 0 && !refused.has(p.key))
  }
}
