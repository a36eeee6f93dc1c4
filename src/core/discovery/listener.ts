import { EventEmitter } from 'node:events'
import { MAX_DATAGRAM_BYTES } from '../constants.js'
import { hasCode } from '../errors.js'
import { type Collaborators, componentLog, type Logger, silentLogger } from '../log.js'
import type { DatagramGuard } from '../trust/datagram-guard.js'
import { type DiscoveryMessage, encodeQuery, type QueryTokens, type QueryWant } from './announcement.js'
import { decodeDatagram } from './announcement-decode.js'
import { DatagramIntake, type ListenerStats } from './datagram-intake.js'
import { ContentDictionary, type DictionaryLimits, type KnownFile } from './dictionary.js'
import { type DictionarySnapshot, jsonLine, snapshotText, toSnapshot } from './dictionary-file.js'
import { type Datagram, DiscoverySockets } from './discovery-sockets.js'
import type { FamilyOptions } from './interfaces.js'
import type { KnownPeers } from './known-peers.js'
import type { PeerTarget } from './named-peers.js'
import { RecentDecodes } from './recent-decodes.js'
import { familyOf } from './udp-sockets.js'
import { UnicastQueries } from './unicast-queries.js'
import { type ClaimFilter, wantedPart } from './wanted-claims.js'

export type { ListenerStats } from './datagram-intake.js'
export type { KnownFile, PeerSource } from './dictionary.js'

/** Datagrams whose decodes are kept for a copy arriving by the other family: a burst's two copies come a moment apart. */
const RECENT_DECODES = 8
/**
 * What a download keeps of vouched answers: those of the peers it asked by unicast (named ones, at most
 * MAX_NAMED_PEERS, and known ones), a few TCP ports an address. No stranger adds to it without seeing our queries.
 */
const VOUCHED_LIMITS: Partial<DictionaryLimits> = {
  maxPeers: 256,
  maxPeersPerFile: 256,
  maxPeersPerAddress: 4,
  maxBytes: 8 * 1024 * 1024,
  maxBytesPerAddress: 8 * 1024 * 1024,
}

/**
 * Receives announcements on the UDP port (bound with address reuse, so
 * listeners, downloaders and announcers on one host all hear every
 * broadcast; the IPv6 socket in the group on each interface; or, given
 * `sharedPort`, through the sockets an announcer in this process has there)
 * and keeps the content dictionary. Queries go to every broadcast address and group (answered
 * where bursts go: the shared port), and by unicast to named and known peers (unicast-queries.ts),
 * from a second endpoint on ports of its own, because those answers come back by unicast to the
 * query's source: on a port several processes share, only one of them would get it. Every datagram is
 * validated; a bad one is dropped, counted by reason and logged at debug
 * level. Emits 'change' when the visible picture changes.
 */

/** The discovery port heard through sockets this process already has there (an announcer's: `Announcer.hear`). */
export interface SharedDiscoveryPort {
  hear(hear: (datagram: Datagram) => void): () => void
}

export interface DiscoveryListenerOptions {
  udpPort: number
  /** Hear the port through these instead of binding it (same families and groups): `--seed`'s announcer. */
  sharedPort?: SharedDiscoveryPort
  bindAddress?: string
  /** Where query() sends on udpPort: IPv4 broadcast addresses and IPv6 groups with their zone. */
  broadcast: string[]
  /** Default: IPv4 only. */
  families?: FamilyOptions
  /** IPv6 groups to join on the shared port (announcements to a group reach us). */
  groups?: ReadonlyArray<{ group: string; interface: string }>
  /** Named peers: queried by unicast at start and every staleAfter/3 (answers come back to our query socket). */
  peers?: readonly PeerTarget[]
  /** How the peer at an address was found, for the snapshot and --json (DiscoveryReach.via). */
  classify?: (address: string) => string
  /** Known peers: queried at start; a named or known peer that answers its query is recorded (in a private swarm, any answer). */
  knownPeers?: KnownPeers | undefined
  staleAfterMs: number
  log?: Logger
  now?: () => number
  limits?: Partial<DictionaryLimits>
  maxDatagramBytes?: number
  /** What query() asks for by default (a downloader asks for its one file; the answer is then small and whole). */
  want?: QueryWant
  /** How often named and answering known peers are asked again (default: staleAfter/3, at least 1 s). */
  requeryEveryMs?: number
  /** A private swarm's seal: queries go out sealed; a datagram that does not open (or is plain, stale, replayed) is dropped. */
  guard?: DatagramGuard
  /** The claims kept (wanted-claims.ts: a download keeps its file's); the rest are counted in `stats.unwanted`. Default: all. */
  keep?: ClaimFilter
  /** A download's: a peer's claims only add chunks (dictionary.ts). Default: a peer's new word replaces its old one. */
  claimsOnlyAdd?: boolean
  /** A download's allow-list: only the peer IDs it lists are remembered as heard for an address (dictionary.ts). */
  heeded?: (peer: string) => boolean
  /** Our own peer ID: our own announcements heard back are not counted as another peer's unwanted claims. */
  selfPeerId?: string
}

/** A discovery listener (deaf until `start()`). */
export function createListener(
  options: Omit<DiscoveryListenerOptions, 'log'>,
  collaborators: Collaborators = {},
): DiscoveryListener {
  return new DiscoveryListener({ ...options, log: componentLog(collaborators, 'listener') })
}

export class DiscoveryListener extends EventEmitter {
  private readonly intake: DatagramIntake
  /** A burst reaches us over IPv4 and IPv6: the second copy is not decoded again. */
  private readonly decoded = new RecentDecodes<DiscoveryMessage>(RECENT_DECODES)
  readonly dictionary: ContentDictionary
  /**
   * A download's: the claims of answers that said back our nonce (a named or known peer's), kept apart
   * from the dictionary, where a flood forging the peer's address with fresh ports pushes them out in milliseconds.
   */
  readonly vouched: ContentDictionary | undefined
  private socket: DiscoverySockets | undefined
  private querySocket: DiscoverySockets | undefined
  private unhear: (() => void) | undefined
  private sweeper: NodeJS.Timeout | undefined
  private requery: NodeJS.Timeout | undefined
  private readonly unicast: UnicastQueries
  private readonly log: Logger
  private readonly now: () => number

  private readonly options: DiscoveryListenerOptions

  constructor(options: DiscoveryListenerOptions) {
    super()
    this.options = { ...options } // its own: retarget() changes where queries go
    this.setMaxListeners(0)
    this.log = options.log ?? silentLogger()
    // Monotonic: a wall-clock jump (NTP, a user changing the date) must not expire or revive peers.
    this.now = options.now ?? (() => performance.now())
    this.dictionary = new ContentDictionary(options.limits, options.claimsOnlyAdd, options.heeded)
    this.vouched = options.claimsOnlyAdd ? new ContentDictionary(VOUCHED_LIMITS, true, options.heeded) : undefined
    this.intake = new DatagramIntake(options.guard, this.log, options.staleAfterMs)
    this.unicast = new UnicastQueries(
      {
        canReach: (address) => this.querySocket?.has(familyOf(address)) ?? false,
        encode: (want, tokens) => this.encodeQuery(want, tokens),
        send: (bytes, address, port) => void this.querySocket?.send(bytes, address, port),
        drop: (reason, address) => this.intake.drop(reason, address, 0),
      },
      { knownPeers: options.knownPeers, sealed: options.guard !== undefined, log: this.log },
    )
  }

  get stats(): ListenerStats {
    return this.intake.stats
  }

  async start(): Promise<void> {
    const shared = this.options.sharedPort
    if (shared) this.unhear = shared.hear((d) => this.onMessage(d, false))
    else this.socket = await this.bind(this.options.udpPort, this.options.groups ?? [], false)
    this.querySocket = await this.bind(0, [], true)
    // Unicast peers hear no broadcast answers and may not name us: ask them again before they would go stale.
    this.requery = setInterval(
      () => {
        void this.socket?.refresh() // the group again on an interface made anew (discovery-sockets.ts)
        this.unicast.again(this.options.peers ?? [], this.options.want)
      },
      this.options.requeryEveryMs ?? Math.max(1000, this.options.staleAfterMs / 3),
    )
    this.requery.unref()
    const every = Math.max(20, Math.min(1000, this.options.staleAfterMs / 4))
    this.sweeper = setInterval(() => {
      const expired = this.dictionary.expire(this.now(), this.options.staleAfterMs)
      if (this.vouched?.expire(this.now(), this.options.staleAfterMs) || expired) this.emit('change')
    }, every)
    this.sweeper.unref()
  }

  /**
   * Ask every announcer for `want` (default: the `want` option, else
   * everything). They answer at once with what fits in three times the
   * query's 1,200 bytes (by broadcast to the shared port, by unicast to our
   * query socket for a named or known peer); their periodic announcements
   * bring the rest.
   */
  query(want: QueryWant | undefined = this.options.want): void {
    const bytes = this.encodeQuery(want)
    for (const address of this.options.broadcast) void this.querySocket?.send(bytes, address, this.options.udpPort)
    this.unicast.query(this.options.peers ?? [], want)
  }

  /**
   * The host's interfaces changed (interface-watch.ts): queries go to these broadcast addresses and groups, the
   * shared port joins these groups, and everyone is asked again (the hosts of a new subnet have not been).
   */
  async retarget(targets: Pick<DiscoveryListenerOptions, 'broadcast' | 'groups'>): Promise<void> {
    this.options.broadcast = [...targets.broadcast]
    this.options.groups = targets.groups ?? []
    await this.socket?.sync(this.options.groups, [])
    if (this.querySocket) this.query()
  }

  private encodeQuery(want: QueryWant | undefined, tokens?: QueryTokens): Buffer {
    const guard = this.options.guard
    const max = this.options.maxDatagramBytes ?? MAX_DATAGRAM_BYTES
    // Sealed in a private swarm, where its answers are sealed to it (datagram-intake.ts keeps what opens them).
    return this.intake.sealQuery(encodeQuery(want, guard ? guard.payloadWithin(max) : max, tokens))
  }

  files(): KnownFile[] {
    return this.dictionary.files()
  }

  /** The dictionary in its file format (lastSeen converted to wall-clock time). */
  snapshot(): DictionarySnapshot {
    return toSnapshot(this.files(), this.clocks())
  }

  /** The same as the dictionary file's text, made claim by claim as it is written (dictionary-file.ts). */
  snapshotText(): Iterable<string> {
    return snapshotText(this.files(), this.clocks())
  }

  /** The dictionary as one bounded line (p2p-listen --json). */
  jsonLine(maxBytes?: number): string {
    return jsonLine(this.files(), this.clocks(), maxBytes)
  }

  private clocks(): { now: number; wallNow: number; via?: (address: string) => string } {
    return { now: this.now(), wallNow: Date.now(), ...(this.options.classify ? { via: this.options.classify } : {}) }
  }

  /** The listener's clock (monotonic ms), for comparing with PeerSource.lastSeen. */
  clock(): number {
    return this.now()
  }

  file(id: string): KnownFile | undefined {
    return this.dictionary.file(id)
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper)
    clearInterval(this.requery)
    this.unhear?.()
    this.unhear = undefined
    const sockets = [this.socket, this.querySocket]
    this.socket = undefined
    this.querySocket = undefined
    await Promise.all(sockets.map((socket) => socket?.stop()))
    await this.options.knownPeers?.close()
  }

  /** Port 0: a port of its own for each family (the query socket). */
  private async bind(
    port: number,
    groups: ReadonlyArray<{ group: string; interface: string }>,
    answers: boolean,
  ): Promise<DiscoverySockets> {
    const sockets = new DiscoverySockets({
      port,
      families: this.options.families ?? { ipv4: true, ipv6: false },
      groups,
      ...(this.options.bindAddress !== undefined ? { bindAddress: this.options.bindAddress } : {}),
      log: this.log,
      onDatagram: (d) => this.onMessage(d, answers),
    })
    await sockets.start()
    return sockets
  }

  /** `answer`: it came to the query socket, whose port only the hosts we queried (and their LAN) have seen. */
  private onMessage(datagram: Datagram, answer: boolean): void {
    const address = datagram.from.address
    const msg = this.intake.unseal(datagram.bytes, address, answer)
    if (msg === undefined) return
    try {
      const message =
        this.decoded.get(msg) ??
        this.decoded.put(msg, decodeDatagram(msg, this.options.maxDatagramBytes ?? MAX_DATAGRAM_BYTES))
      if (message.type === 'more')
        this.log.debug(
          { from: address, omitted: message.omitted, interval: message.interval },
          'answer incomplete; the rest comes with periodic announcements',
        )
      if (message.type === 'cookie' && answer) this.unicast.tookCookie(address, datagram.from.port, message)
      if (message.type !== 'announce') return
      const { kept, unwanted } = wantedPart(message, this.options.keep)
      if (message.peer !== this.options.selfPeerId) this.stats.unwanted += unwanted
      if (kept && this.dictionary.merge(kept, address, this.now())) this.emit('change')
      if (answer) this.unicast.answered(address, datagram.from.port, message.peer, message.nonce)
      if (kept && answer && this.vouched && message.nonce !== undefined) {
        const vouched = this.unicast.vouches(address, datagram.from.port, message.nonce)
        if (vouched && this.vouched.merge(kept, address, this.now())) this.emit('change')
      }
    } catch (err) {
      this.intake.drop(hasCode(err) ? String(err.details?.reason ?? err.code) : 'internal', address, msg.length, err)
    }
  }
}
