import { keyOf } from './known-peers-file.js'
import type { PeerTarget } from './named-peers.js'

/**
 * Which known peers a listener (listener.ts) asks again. Known peers are
 * asked once, at the first query, for everything, so their silence is a
 * miss; only one that answered (or sent a cookie notice saying our nonce
 * back: unicast-queries.ts) is asked again, until it stays silent at
 * MAX_SILENT_REQUERIES requeries. An answer counts only from a peer with a
 * query outstanding: an entry that never answers (a stranger's address
 * planted in known_peers.json, a peer gone) costs one query a start.
 */

/** A known peer that stops answering is asked this many more times in a run, then no more. */
export const MAX_SILENT_REQUERIES = 2

export class AnsweringPeers {
  /** Known peers asked at the first query, by address|port. */
  private asked: Map<string, PeerTarget> | undefined
  /** Known peers queried and not answered since (an answer counts only for a query outstanding). */
  private readonly awaiting = new Set<string>()
  /** Known peers that answered, with the requeries they left unanswered since: only these are asked again. */
  private readonly answering = new Map<string, { target: PeerTarget; silent: number }>()

  /** Whether the known peers were asked (the first query happened). */
  get started(): boolean {
    return this.asked !== undefined
  }

  /** The known peers the first query goes to. */
  start(known: readonly PeerTarget[]): void {
    this.asked = new Map(known.map((p) => [keyOf(p), p]))
  }

  /** A query went to known peer `target`: its answer now counts. */
  queried(target: PeerTarget): void {
    this.awaiting.add(keyOf(target))
  }

  /** An answer from `address`:`port` came to the query socket. */
  heard(address: string, port: number): void {
    const key = keyOf({ address, port })
    const target = this.asked?.get(key)
    if (target === undefined || !this.awaiting.delete(key)) return
    this.answering.set(key, { target, silent: 0 })
  }

  /** The known peers to ask again now: each silent requery counts, at MAX_SILENT_REQUERIES one is asked no more. */
  due(): PeerTarget[] {
    const again: PeerTarget[] = []
    for (const [key, entry] of this.answering) {
      if (this.awaiting.has(key) && ++entry.silent >= MAX_SILENT_REQUERIES) {
        this.answering.delete(key)
        this.awaiting.delete(key)
      } else {
        again.push(entry.target)
      }
    }
    return again
  }
}
