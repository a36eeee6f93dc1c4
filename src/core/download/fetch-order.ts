import { DEFAULT_PROBE_WINDOW } from '../constants.js'

/** What the fetch order reads of each peer (the scheduler's standing of it). */
export interface PeerStanding {
  isProven(key: string): boolean
  misses(key: string): number
  asksLast(key: string): boolean
  readyIn(key: string): number
  inFlight(key: string): number
}

/**
 * The order in which the fetch loop fills peers' windows, from `turn` (the
 * loop's count of its passes). Proven peers first, and among them a seeder in
 * a swarm last: its upload is what a swarm has least of, so it is asked for
 * what only it has and for what the others could not take (at N = 16 the
 * seeder sent 1.65–1.84 × the file instead of 1.95–2.29 ×: docs/benchmarks.md).
 * Then the others, those that never let us down before those that did,
 * starting from a different one on each pass: probe slots go round, not to
 * whoever is listed first or keeps failing.
 */
export function fetchOrder(keys: readonly string[], standing: PeerStanding, turn: number): string[] {
  const first = keys.length === 0 ? 0 : turn % keys.length
  const rank = (key: string): number => {
    if (!standing.isProven(key)) return standing.misses(key)
    return standing.asksLast(key) ? -1 : -2
  }
  return [...keys.slice(first), ...keys.slice(0, first)]
    .map((key) => ({ key, rank: rank(key) }))
    .sort((a, b) => a.rank - b.rank)
    .map(({ key }) => key)
}

/**
 * Requests proven peers leave free for a probe: while a peer that has not
 * delivered yet may be asked and has nothing in flight, a probe's worth (less
 * the probes already out). The peer the manifest came from gets its whole
 * window at once, and with a window as large as the budget it would otherwise
 * take every request, and a second seeder would never be asked (seen in netns
 * case 1). A banned, backing-off or unknown peer keeps nothing free.
 */
export function keptForProbes(
  keys: readonly string[],
  standing: PeerStanding,
  maxProbes: number,
  probesOut: number,
): number {
  const probeWaits = keys.some(
    (key) => !standing.isProven(key) && standing.readyIn(key) === 0 && standing.inFlight(key) === 0,
  )
  return probeWaits ? Math.max(0, Math.min(maxProbes, DEFAULT_PROBE_WINDOW) - probesOut) : 0
}
