import { isIPv6 } from 'node:net'
import { someOf } from '../counted.js'
import { DISCOVERY_GROUP_V6 } from './multicast.js'
import { parseNamedPeer } from './named-peers.js'
import { canonicalAddress } from './unicast-address.js'

/**
 * How a peer was found, for p2p-listen's table, its --json and the download
 * receipt, and what to tell a user when nobody was found.
 *
 *   broadcast  an IPv4 datagram on the discovery port (a broadcast, or an answer to one)
 *   ipv6       an IPv6 datagram (the link-scoped group, or an answer to it)
 *   peer       from an address of a peer the user named (--peer, P2P_PEERS, the config file)
 *   known      from an address in the known-peers file
 *
 * Named beats known beats the family: a peer the user named is reported as
 * such even when broadcast reaches it too.
 */

export const FOUND_VIA = ['broadcast', 'ipv6', 'peer', 'known'] as const
export type FoundVia = (typeof FOUND_VIA)[number]

export class SourceClassifier {
  private readonly named = new Set<string>()
  private readonly known = new Set<string>()

  addNamed(addresses: Iterable<string>): void {
    for (const a of addresses) this.named.add(normalize(a))
  }

  addKnown(addresses: Iterable<string>): void {
    for (const a of addresses) this.known.add(normalize(a))
  }

  via(address: string): FoundVia {
    const a = normalize(address)
    if (this.named.has(a)) return 'peer'
    if (this.known.has(a)) return 'known'
    return isIPv6(a) ? 'ipv6' : 'broadcast'
  }
}

/** Addresses compare in canonical form (FD00:0:0::20 is fd00::20; ::ffff:10.0.0.1 is 10.0.0.1). */
const normalize = canonicalAddress

/** What discovery tried, for the message when nobody answered. */
export interface PathsTried {
  /** IPv4 addresses broadcast to. */
  broadcast: readonly string[]
  /** Interfaces the IPv6 group was sent on. */
  ipv6: readonly string[]
  /** Named peers queried, as the user wrote them. */
  named: readonly string[]
  /** Named peers that did not resolve, with why. */
  unresolved: ReadonlyArray<{ peer: string; reason: string }>
  /** Known peers queried. */
  known: number
  udpPort: number
}

const list = (items: readonly string[]): string => someOf(items, 4)

/** One sentence: where discovery looked, then what the user can do about it. */
export function pathsAdvice(tried: PathsTried): string {
  const paths: string[] = []
  if (tried.broadcast.length > 0) paths.push(`IPv4 broadcast to ${list(tried.broadcast)}`)
  if (tried.ipv6.length > 0) paths.push(`IPv6 group ${DISCOVERY_GROUP_V6} on ${list(tried.ipv6)}`)
  if (tried.named.length > 0) paths.push(`named peer${tried.named.length > 1 ? 's' : ''} ${list(tried.named)}`)
  if (tried.unresolved.length > 0) paths.push(`not resolved: ${list(tried.unresolved.map((u) => u.peer))}`)
  paths.push(tried.known > 0 ? `${tried.known} known peer${tried.known > 1 ? 's' : ''}` : 'no known peers')
  const firewall = `the firewall on both hosts lets UDP port ${tried.udpPort} in`
  // A peer named with its port (a share link's hint, --peer HOST:PORT) is asked there, not at our port.
  const ported = tried.named.filter(namesItsPort)
  const advice =
    tried.named.length === 0
      ? `If the seeder is on another subnet, behind a router or an access point that isolates clients, name it with --peer HOST (or P2P_PEERS); check that ${firewall}`
      : ported.length === 0
        ? `Check that the named hosts run p2p-announce (or p2p share) on UDP port ${tried.udpPort} and that ${firewall}`
        : `Check that the named hosts run p2p-announce (or p2p share) on the UDP port named with each${ported.length < tried.named.length ? ` (${tried.udpPort} where none is)` : ''} and that their firewalls let it in`
  return `tried ${paths.join('; ')}. ${advice}`
}

/** Whether a named peer, as the user wrote it, gives its port. */
function namesItsPort(text: string): boolean {
  try {
    return parseNamedPeer(text, 0).port !== 0
  } catch {
    return false
  }
}
