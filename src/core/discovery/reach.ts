import { type Logger, silentLogger } from '../log.js'
import type { BroadcastSetting } from '../setting-parsers.js'
import { type FoundVia, type PathsTried, pathsAdvice, SourceClassifier } from './found-via.js'
import {
  type DiscoveryTargets,
  discoveryTargets,
  type FamilyOptions,
  type InterfaceSource,
  type LocalInterface,
  listInterfaces,
  localAddresses,
  systemInterfaces,
} from './interfaces.js'
import { KnownPeers, knownPeersPath } from './known-peers.js'
import { type Lookup, type PeerTarget, parseNamedPeers, resolveNamedPeers } from './named-peers.js'

/**
 * Where one command's discovery reaches, decided at start from its
 * settings: the IPv4 broadcast addresses and IPv6 group destinations of
 * `--broadcast` (interfaces.ts), the named peers (`--peer`, resolved through
 * the system resolver), the known-peers file beside the dictionary, and the
 * families that are on. The announcer and the listener take their socket
 * options from here; the CLI uses it to say how each peer was found and, when
 * nobody answered, which paths were tried. The interfaces' part (broadcast
 * addresses, groups, the host's addresses) is read again by refresh(): an
 * address that comes later (DHCP after boot, a laptop joining another
 * network) is announced on (interface-watch.ts).
 */

export interface ReachSettings {
  broadcast: BroadcastSetting
  ipv4: boolean
  ipv6: boolean
  /** Named peers as written (HOST[:PORT], …). */
  peers: readonly string[]
  udpPort: number
  /** The content dictionary's path: known_peers.json goes beside it. Undefined: no known peers (announcers, --no-known-peers). */
  dictionaryPath?: string | undefined
}

export interface ReachOptions {
  log?: Logger
  interfaces?: InterfaceSource
  lookup?: Lookup
  resolveTimeoutMs?: number
}

export class DiscoveryReach {
  readonly classifier = new SourceClassifier()

  constructor(
    readonly families: FamilyOptions,
    public targets: DiscoveryTargets,
    readonly named: PeerTarget[],
    readonly namedText: string[],
    readonly unresolved: Array<{ peer: string; reason: string }>,
    public unicastAddresses: string[],
    readonly knownPeers: KnownPeers | undefined,
    private readonly udpPort: number,
    /** The interfaces' part read again (resolveReach's); none: never changes. */
    private readonly relist?: () => {
      interfaces: LocalInterface[]
      targets: DiscoveryTargets
      unicastAddresses: string[]
    },
    /** The host's interfaces as last read. */
    private interfaces: readonly LocalInterface[] = [],
  ) {
    this.classifier.addNamed(named.map((t) => t.address))
    if (knownPeers) this.classifier.addKnown(knownPeers.list().map((p) => p.address))
  }

  /** Read the interfaces again: whether the broadcast addresses, groups or the host's addresses changed. */
  refresh(): boolean {
    if (!this.relist) return false
    const now = this.relist()
    const before = JSON.stringify([this.targets, this.unicastAddresses])
    this.interfaces = now.interfaces
    if (JSON.stringify([now.targets, now.unicastAddresses]) === before) return false
    this.targets = now.targets
    this.unicastAddresses = now.unicastAddresses
    return true
  }

  /** Every destination of a burst: IPv4 broadcast addresses and IPv6 groups with their zone. */
  get broadcast(): string[] {
    return [...this.targets.ipv4, ...this.targets.ipv6]
  }

  /** The announcer's socket options. */
  announcerOptions(): {
    broadcast: string[]
    families: FamilyOptions
    groups: DiscoveryTargets['groups']
    peers: PeerTarget[]
    unicastAddresses: string[]
    interfaces: () => readonly LocalInterface[]
  } {
    return {
      broadcast: this.broadcast,
      families: this.families,
      groups: this.targets.groups,
      peers: this.named,
      unicastAddresses: this.unicastAddresses,
      interfaces: () => this.interfaces,
    }
  }

  /** The listener's (and a downloader's peer directory's) socket options. */
  listenerOptions(): {
    broadcast: string[]
    families: FamilyOptions
    groups: DiscoveryTargets['groups']
    peers: PeerTarget[]
    knownPeers: KnownPeers | undefined
    classify: (address: string) => FoundVia
  } {
    return {
      broadcast: this.broadcast,
      families: this.families,
      groups: this.targets.groups,
      peers: this.named,
      knownPeers: this.knownPeers,
      classify: (address) => this.via(address),
    }
  }

  /** How a peer seen at `address` was found. */
  via(address: string): FoundVia {
    return this.classifier.via(address)
  }

  /** What was tried, for the message when nobody answered. */
  tried(): PathsTried {
    return {
      broadcast: this.targets.ipv4,
      ipv6: this.targets.groups.map((g) => g.interface),
      named: this.namedText,
      unresolved: this.unresolved,
      known: this.knownPeers?.list().length ?? 0,
      udpPort: this.udpPort,
    }
  }

  advice(): string {
    return pathsAdvice(this.tried())
  }
}

/**
 * Resolve the settings against the host's interfaces and the resolver. A
 * malformed --peer is E_USAGE; a name that does not resolve is reported in
 * `unresolved` (the caller decides whether that is fatal).
 */
export async function resolveReach(settings: ReachSettings, options: ReachOptions = {}): Promise<DiscoveryReach> {
  const log = options.log ?? silentLogger()
  const families = { ipv4: settings.ipv4, ipv6: settings.ipv6 }
  let interfaces = listInterfaces(options.interfaces ?? systemInterfaces)
  const targets = discoveryTargets(settings.broadcast, interfaces, families)
  const parsed = parseNamedPeers(settings.peers, settings.udpPort)
  const resolved = await resolveNamedPeers(parsed, {
    families,
    interfaces,
    ...(options.lookup ? { lookup: options.lookup } : {}),
    ...(options.resolveTimeoutMs !== undefined ? { timeoutMs: options.resolveTimeoutMs } : {}),
  })
  for (const f of resolved.failed) log.warn({ peer: f.peer, reason: f.reason }, 'named peer not resolved')
  let knownPeers: KnownPeers | undefined
  if (settings.dictionaryPath !== undefined) {
    knownPeers = new KnownPeers(knownPeersPath(settings.dictionaryPath), { log, interfaces: () => interfaces })
    await knownPeers.load()
  }
  return new DiscoveryReach(
    families,
    targets,
    resolved.targets,
    parsed.map((p) => p.text),
    resolved.failed,
    localAddresses(interfaces, families),
    knownPeers,
    settings.udpPort,
    () => {
      interfaces = listInterfaces(options.interfaces ?? systemInterfaces)
      return {
        interfaces,
        targets: discoveryTargets(settings.broadcast, interfaces, families),
        unicastAddresses: localAddresses(interfaces, families),
      }
    },
    interfaces,
  )
}
