import type { PeerRecord } from './peer-record.js'

/** What the download waits on across its live peers (the scheduler's records): their deadlines, and their upload-slot lines. */

/** Our best place in the upload-slot lines of the peers waited for in one (undefined: none says); written-off and banned peers do not count. */
export function bestPlaceInLine(peers: ReadonlyMap<string, PeerRecord>): number | undefined {
  let best: number | undefined
  for (const peer of peers.values())
    if (peer.linePlace !== undefined && !peer.writtenOff && !peer.banned)
      best = Math.min(best ?? Infinity, peer.linePlace)
  return best
}

/** Milliseconds from `now` until the peers' next deadline (one turning overdue, or given up on); Infinity when none runs. */
export function soonestDeadlineIn(peers: ReadonlyMap<string, PeerRecord>, now: number): number {
  let soonest = Infinity
  for (const peer of peers.values()) soonest = Math.min(soonest, peer.pace.nextDeadlineIn(now))
  return soonest
}
