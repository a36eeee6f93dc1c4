import { isIPv6 } from 'node:net'
import type { Bitfield } from '../bitfield.js'
import type { Logger } from '../log.js'
import type { ChunkStore } from '../store.js'
import type { DatagramGuard } from '../trust/datagram-guard.js'
import type { FamilyOptions, LocalInterface } from './interfaces.js'
import type { PeerTarget } from './named-peers.js'

/** What an announcer (announcer.ts) is given and reports. */

/** Bursts caused by store changes, at least this far apart (a store announced whole in one datagram). */
export const MIN_BURST_GAP_MS = 250
/** …and at least this far apart for a store whose whole announcement takes more than one datagram. */
export const LARGE_BURST_GAP_MS = 1000
/**
 * The whole store is read again at least this often (at an interval's burst), besides at start and after a
 * failed burst; the other bursts read only the entry directories the watches saw change (store-changes.ts).
 * What this catches is a change a watch missed; a store of 10,000 entries costs ~0.85 CPU-s to read whole.
 */
export const RESCAN_MS = 60_000
/** A burst for a store change waits this long, so a run of writes goes out in one. */
export const CHANGE_DELAY_MS = 200

export interface AnnouncerOptions {
  store: ChunkStore
  udpPort: number
  /** TCP port where this peer's p2p-serve answers. */
  tcpPort: number
  /** IPv4 broadcast addresses and IPv6 groups with their zone (ff12::7032:7032%eth0), on udpPort. */
  broadcast: string[]
  /** Named peers: every burst goes to each by unicast too (their own UDP port). */
  peers?: readonly PeerTarget[]
  /** Default: IPv4 only. */
  families?: FamilyOptions
  /** IPv6 groups to join (queries sent to a group reach us). */
  groups?: ReadonlyArray<{ group: string; interface: string }>
  /** The host's own addresses: the port is bound on each too, so unicast queries of named and known peers reach the announcer even when a listener bound the port after it (udp-sockets.ts). */
  unicastAddresses?: readonly string[]
  /** The host's interfaces (reach.ts keeps them current): a query's source may be no subnet's broadcast address. */
  interfaces?: () => readonly LocalInterface[]
  intervalMs: number
  log?: Logger
  maxDatagramBytes?: number
  /** Bursts caused by store changes at least this many ms apart (default MIN_BURST_GAP_MS; LARGE_BURST_GAP_MS or more for a store announced in several datagrams). */
  minBurstGapMs?: number
  /** Read the whole store again at least this often (default RESCAN_MS; never more often than every interval). */
  rescanMs?: number
  /** How long after a store change to announce (default CHANGE_DELAY_MS, coalescing a burst of writes). */
  changeDelayMs?: number
  bindAddress?: string
  /** Answers to queries: bytes a second per source address (burst 4×) and in all. */
  answerBytesPerSourcePerS?: number
  answerBytesPerS?: number
  /** The peer ID announced (default: the store's random peer id). */
  peerId?: string
  /** "noise": our server speaks the encrypted transport (announced so; docs/protocol.md §5). */
  transport?: 'noise'
  /** A private swarm's seal: every datagram sent is sealed, every one received must open. */
  guard?: DatagramGuard
  /**
   * Whether bursts for changes also go to the IPv6 groups (default: always). A download that seeds answers from
   * what its own listener hears: only while some peer is heard over IPv6 alone. A peer heard over both families
   * gets the IPv4 copy; the bursts at start and every interval, the goodbye and answers go over every family.
   */
  changesOverIpv6?: () => boolean
  /** Downloads in this process (`p2p-download --seed`): what they wrote, before their `data.have` lists it. */
  live?: LiveHoldings
}

/** What a download's writer in this process holds now (vouched-chunks.ts implements it). */
export interface LiveHoldings {
  /** The chunks in the packed file at `dataPath` so far, or undefined when no writer here holds it. */
  haveOf(dataPath: string): Bitfield | undefined
  /** `listener` is called when a writer holds another chunk; returns its removal. */
  onGrowth(listener: () => void): () => void
}

export interface BurstReport {
  /** Entries the store announces. */
  files: number
  /** Of them, those this burst carried: all of them in a whole burst, those that changed in a burst for a change. */
  sent: number
  /** A whole burst (at start, every interval, after a failed burst): it carried every entry. */
  whole: boolean
  datagrams: number
  bytes: number
  reason: string
}

/**
 * Where a burst goes: every broadcast address and group on the port, every named peer on its own. A burst for a
 * change (`everyFamily` false) leaves out the IPv6 groups while `changesOverIpv6` says no and an IPv4 broadcast
 * address is there to carry it: each peer that heard a burst twice, once by each family, then hears it once.
 */
export function burstDestinations(
  options: Pick<AnnouncerOptions, 'broadcast' | 'udpPort' | 'peers' | 'changesOverIpv6'>,
  everyFamily: boolean,
): Array<[string, number]> {
  const { broadcast } = options
  const ipv4Too = broadcast.some((address) => !isIPv6(address))
  const groups = everyFamily || !ipv4Too || (options.changesOverIpv6?.() ?? true)
  return [
    ...broadcast
      .filter((address) => groups || !isIPv6(address))
      .map((address): [string, number] => [address, options.udpPort]),
    ...(options.peers ?? []).map((p): [string, number] => [p.address, p.port]),
  ]
}
