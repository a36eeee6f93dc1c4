import type { LivePeer } from './job.js'

/** What the choice reads of a path's record so far (the scheduler's). */
export interface PathRecord {
  /** It may carry requests: not banned, not backing off or written off after failures (a peer's "not now" does not count). */
  usable(key: string): boolean
  /** It has delivered a chunk. */
  proven(key: string): boolean
  /** Strikes and failed incidents so far (0 for a path never tried). */
  misses(key: string): number
  /** It is the path in use now. */
  inUse(key: string): boolean
}

/** Whether this path is one of its peer's paths (an encrypted one with a peer id), not a peer of its own. */
export function mergedPath(path: LivePeer): path is LivePeer & { peerId: string } {
  return path.transport === 'noise' && path.peerId !== undefined
}

/**
 * One path per peer. A peer is often heard at several addresses (its IPv4
 * broadcast and its IPv6 link-local announcements, a named address, the
 * DHT): one host with one upload link. Fetching from every path would give
 * it a pipeline window per path, so downloads that share a seeder queue
 * twice as deep there and hedge what it is slow to send (measured in the
 * swarm bench: the seeder sent far more than its share).
 *
 * Only encrypted paths are merged: their peer id is proven by the handshake,
 * so a stranger announcing another peer's id at its own address cannot
 * speak for it (its path fails the handshake, a miss, and the next path is
 * used). A plain path's id is a bare claim; each such path stays its own
 * peer, as does a path without an id.
 *
 * Which path of a peer: a usable one before one that is banned or backing
 * off (so a broken path that still announces does not hide a working one),
 * then a proven one, then the one with the fewest misses, then the one in
 * use, then the first listed. A busy peer ("not now") keeps its path: taking
 * turns between two paths to one host would ask it again at once through
 * the other, and drop the requests in flight on the first each time (when
 * the path does change, the caller carries the pause over). Pure.
 */
export function onePathPerPeer(
  listed: readonly LivePeer[],
  keyOf: (p: LivePeer) => string,
  record: PathRecord,
): LivePeer[] {
  const chosen = new Map<string, LivePeer>()
  const out: LivePeer[] = []
  const better = (a: LivePeer, b: LivePeer): boolean => {
    const [ka, kb] = [keyOf(a), keyOf(b)]
    const [ua, ub] = [record.usable(ka), record.usable(kb)]
    if (ua !== ub) return ua
    const [pa, pb] = [record.proven(ka), record.proven(kb)]
    if (pa !== pb) return pa
    const [ma, mb] = [record.misses(ka), record.misses(kb)]
    if (ma !== mb) return ma < mb
    return record.inUse(ka) && !record.inUse(kb)
  }
  for (const path of listed) {
    if (!mergedPath(path)) {
      out.push(path)
      continue
    }
    const current = chosen.get(path.peerId)
    if (!current || better(path, current)) chosen.set(path.peerId, path)
  }
  return [...out, ...chosen.values()]
}
