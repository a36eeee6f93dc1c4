/**
 * Which candidates the manifest race (manifest-fetch.ts) asks next: taking
 * turns by address. Anyone on the LAN can announce a file from many ports
 * of one address, each a valid-looking peer that accepts and never answers;
 * drawn uniformly, 240 such fakes from 16 addresses hid the one seeder past
 * `--wait` in half the downloads or more, because the race gets through
 * about 7 silent candidates a second (FAULTS #40). Taken by address, an
 * address is asked again only once every address offering the file has been
 * asked as often, so the seeder is among the first N asked (N addresses),
 * whatever number of ports each other address announces. Within an
 * address, a random candidate among those that failed least: which peers
 * answer first must not be for the peers to choose. A candidate the user
 * named (a share link's seeder) comes before all of them. Pure.
 */

export interface CandidateRecord<P> {
  /** The host a candidate is at (admission.ts addressKey: an IPv6 /64 counts once). */
  addressOf(candidate: P): string
  /** How often its address was asked so far in this race. */
  turnsOf(address: string): number
  /** How often it failed or was abandoned so far in this race. */
  missesOf(candidate: P): number
  /** Named by the user (a share link's seeder): asked before any other, whatever the turns. */
  named?(candidate: P): boolean
}

/** Up to `count` of `candidates` (none of them being asked now), in the order to ask them. */
export function nextCandidates<P>(
  candidates: readonly P[],
  count: number,
  record: CandidateRecord<P>,
  random: () => number = Math.random,
): P[] {
  if (count <= 0 || candidates.length === 0) return []
  const named = record.named ? candidates.filter((c) => record.named!(c)) : []
  if (named.length > 0) {
    const rest = candidates.filter((c) => !record.named!(c))
    return [...named.slice(0, count), ...nextCandidates(rest, count - named.length, record, random)]
  }
  const byAddress = new Map<string, P[]>()
  for (const candidate of candidates) {
    const address = record.addressOf(candidate)
    const group = byAddress.get(address)
    if (group) group.push(candidate)
    else byAddress.set(address, [candidate])
  }
  // Each address's candidates: shuffled, then stably sorted, fewest misses last (popped from the end).
  const groups = [...byAddress].map(([address, group]) => {
    shuffle(group, random)
    group.sort((a, b) => record.missesOf(b) - record.missesOf(a))
    return { group, turns: record.turnsOf(address), rank: random() }
  })
  const chosen: P[] = []
  while (chosen.length < count) {
    // The address asked least so far (counting what this call chose); ties by a random rank drawn once per call.
    let next: (typeof groups)[number] | undefined
    for (const g of groups) {
      if (g.group.length === 0) continue
      if (!next || g.turns < next.turns || (g.turns === next.turns && g.rank < next.rank)) next = g
    }
    if (!next) break
    chosen.push(next.group.pop()!)
    next.turns++
  }
  return chosen
}

/** Fisher–Yates, in place. */
function shuffle<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
}
