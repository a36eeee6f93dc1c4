import { addressKey } from '../address-key.js'
import { IndexedHeap } from '../indexed-heap.js'
import type { KnownFile } from './claims.js'

/**
 * Which files a bounded listing of the dictionary shows when not all of them
 * fit: p2p-listen's line and table (50 names) and its --json line (1 MiB).
 * Taken in dictionary order, one stranger announcing 5,000 files filled all
 * three and left an honest peer's file out of each (attacker pass): a listing
 * too must never let one source's claims push out another's.
 *
 * So sources take turns: a source is an address as `addressKey` counts hosts
 * (an IPv6 /64 once), and the one that has spent the least of the room goes
 * next (ties: the source announcing the fewest files, then by address), with
 * the first of its files not yet listed. Each source's files go in this
 * order: those more sources hold first (a file several addresses announce
 * comes before one only its own announcer claims, and is listed at the first
 * turn of any of them), then by name and id, so what is listed stays put from
 * one line to the next. A file that does not fit what is left is passed over
 * (counted as omitted) and the source's next one is tried. So with room for
 * R rows and S sources, each gets at least ⌊R / S⌋ rows (or all its files);
 * where a file costs its bytes, each gets about 1 / S of them, however large
 * another source makes its own files.
 *
 * O(claims + files · log files), the turns O(log sources) each: less than
 * summarising the claims (claims.ts) that gave the files.
 */

export interface FairListing<T extends KnownFile> {
  /** The files listed, in the order they were taken. */
  listed: T[]
  /** Files left out: every file given that is not in `listed`. */
  omitted: number
}

export interface ListingCost<T extends KnownFile> {
  /**
   * What listing `file` spends of the room, at least 1 (default 1: a row). Asked once a file, when its turn comes;
   * `left` is what is left of the room, so a cost dear to measure can answer more than `left` for a file it can tell
   * cannot fit (the --json line's does: serialising the files that did not fit was a third of its CPU under a flood).
   */
  cost?: (file: T, left: number) => number
  /** Told of each file listed, right after its `cost` (a caller that measured it by its text keeps that text). */
  take?: (file: T) => void
}

/** A file and how many sources claim it. */
interface Entry<T> {
  file: T
  holders: number
}

interface Source<T> {
  key: string
  files: Array<Entry<T>>
  /** The next of `files` to look at. */
  next: number
  /** Room spent on this source's turns. */
  spent: number
  /** Among sources that spent as much, the lower goes first. */
  rank: number
}

/** The files of `files` that a listing with `room` shows, and how many it leaves out. */
export function fairListing<T extends KnownFile>(
  files: readonly T[],
  room: number,
  { cost = () => 1, take }: ListingCost<T> = {},
): FairListing<T> {
  const sources = new Map<string, Source<T>>()
  const keys = new Map<string, string>() // addressKey parses IPv6: once per address
  const keyOf = (address: string | undefined): string => {
    if (address === undefined) return addressKey(undefined) // a file with no claim (one read from a file): a source's own
    let key = keys.get(address)
    if (key === undefined) {
      key = addressKey(address)
      keys.set(address, key)
    }
    return key
  }
  for (const file of files) {
    // Most files have one claim: no set made for those.
    const held =
      file.peers.length <= 1 ? [keyOf(file.peers[0]?.address)] : new Set(file.peers.map((p) => keyOf(p.address)))
    const entry = { file, holders: Array.isArray(held) ? 1 : held.size }
    for (const key of held) {
      const source = sources.get(key)
      if (source) source.files.push(entry)
      else sources.set(key, { key, files: [entry], next: 0, spent: 0, rank: 0 })
    }
  }
  const order = (a: Entry<T>, b: Entry<T>): number =>
    b.holders - a.holders || compare(a.file.name, b.file.name) || compare(a.file.id, b.file.id)
  const ranked = [...sources.values()].sort((a, b) => a.files.length - b.files.length || compare(a.key, b.key))
  const turns = new IndexedHeap<Source<T>>((a, b) => a.spent < b.spent || (a.spent === b.spent && a.rank < b.rank))
  for (const [rank, source] of ranked.entries()) {
    source.rank = rank
    source.files.sort(order)
    turns.update(source)
  }
  const listed: T[] = []
  const seen = new Set<T>() // listed, or passed over: a file too big for what was left is too big for less
  let used = 0
  while (used < room) {
    const source = turns.top()
    if (!source) break
    let f = source.files[source.next++]?.file
    while (f !== undefined && seen.has(f)) f = source.files[source.next++]?.file
    if (f === undefined) {
      turns.delete(source)
      continue
    }
    seen.add(f)
    const spends = cost(f, room - used)
    if (used + spends > room) continue
    used += spends
    source.spent += spends
    listed.push(f)
    take?.(f)
    turns.update(source)
  }
  return { listed, omitted: files.length - listed.length }
}

/** By UTF-16 code units: the same order everywhere, and cheap for a dictionary of 10,000 names (localeCompare is not). */
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
