import { MAX_DATAGRAM_BYTES } from '../constants.js'
import { type Collaborators, componentLog, type Logger, silentLogger } from '../log.js'
import { encodeAnnouncements, entryEncoder, fitsOneDatagram, localFileOf, packEntries } from './announcement-encode.js'
import { AnnouncerIntake } from './announcer-intake.js'
import {
  type AnnouncerOptions,
  type BurstReport,
  burstDestinations,
  CHANGE_DELAY_MS,
  MIN_BURST_GAP_MS,
} from './announcer-options.js'
import { BurstPacer } from './burst-pacer.js'
import { BurstScanner } from './burst-scanner.js'
import { type Datagram, DiscoverySockets } from './discovery-sockets.js'
import type { Announced } from './query-answer.js'
import type { AnnouncerStats } from './query-answerer.js'
import { SentEntries } from './sent-entries.js'
import { WithheldIds } from './withheld-ids.js'

export {
  type AnnouncerOptions,
  type BurstReport,
  LARGE_BURST_GAP_MS,
  type LiveHoldings,
  MIN_BURST_GAP_MS,
  RESCAN_MS,
} from './announcer-options.js'
export { ANSWER_BYTES_PER_S, ANSWER_BYTES_PER_SOURCE_PER_S, type AnnouncerStats } from './query-answerer.js'

/**
 * Tells the LAN what this chunk store holds: a burst of announcement
 * datagrams to every broadcast address and IPv6 group, and by unicast to
 * every named peer (reach.ts decides which; discovery-sockets.ts carries
 * them) of the whole store at start and every `intervalMs`, and of what
 * changed (sent-entries.ts) shortly after the store changes. What a burst
 * reads of the store, and how a change is known, is burst-scanner.ts; how
 * far apart bursts for changes go, and that one follows another,
 * burst-pacer.ts.
 *
 * Queries heard on its sockets are answered, and what else in this process
 * hears the port through them gets every datagram (announcer-intake.ts).
 */

/** An announcer for `options.store` (silent until `start()`). */
export function createAnnouncer(options: Omit<AnnouncerOptions, 'log'>, collaborators: Collaborators = {}): Announcer {
  return new Announcer({ ...options, log: componentLog(collaborators, 'announcer') })
}

export class Announcer {
  private socket: DiscoverySockets | undefined
  private ticker: NodeJS.Timeout | undefined
  /** What each burst reads of the store; it tells of changes. */
  private readonly scanner: BurstScanner
  /** The store's whole announcement takes more than one datagram (as of the last burst). */
  private largeStore = false
  /** When bursts go: one at a time, those for changes spaced out. */
  private readonly pacer: BurstPacer
  /** What the bursts told the LAN so far: a burst for a change sends only what differs. */
  private readonly sent = new SentEntries()
  /** What the last burst announced: answers are made from it. */
  private announced: Announced | undefined
  /** What reaches our sockets: queries to answer, datagrams for whoever else hears the port (`hear`). */
  private readonly intake: AnnouncerIntake
  private readonly log: Logger
  /** Ids left out of every burst and answer (`withhold`). */
  private readonly withheld = new WithheldIds(() => this.schedule('released'))
  readonly stats: AnnouncerStats
  onBurst: ((report: BurstReport) => void) | undefined

  private readonly options: AnnouncerOptions

  constructor(options: AnnouncerOptions) {
    this.options = { ...options } // its own: retarget() changes where bursts go
    this.log = options.log ?? silentLogger()
    this.scanner = new BurstScanner(this.options, () => this.storeChanged(), this.log)
    this.pacer = new BurstPacer({
      burst: (reason) =>
        this.announce(reason).catch((err: unknown) => {
          this.scanner.failed()
          this.log.warn({ err: (err as Error).message }, 'announcement failed')
        }),
      open: () => this.socket !== undefined,
      minGapMs: options.minBurstGapMs ?? MIN_BURST_GAP_MS,
      largeStore: () => this.largeStore,
    })
    this.intake = new AnnouncerIntake(
      this.options,
      {
        announced: () => this.announced,
        bursting: () => this.pacer.bursting,
        sockets: () => this.socket,
        maxBytes: () => this.maxBytes,
        seal: (payload, answering) => this.seal(payload, answering),
      },
      this.log,
    )
    this.stats = this.intake.stats
  }

  async start(): Promise<void> {
    const sockets = new DiscoverySockets({
      port: this.options.udpPort,
      families: this.options.families ?? { ipv4: true, ipv6: false },
      groups: this.options.groups ?? [],
      unicastAddresses: this.options.unicastAddresses ?? [],
      ...(this.options.bindAddress !== undefined ? { bindAddress: this.options.bindAddress } : {}),
      log: this.log,
      onDatagram: (d) => this.intake.onDatagram(d),
    })
    await sockets.start()
    this.socket = sockets
    this.scanner.start()
    await this.pacer.burst('start')
    this.ticker = setInterval(() => {
      void this.socket?.refresh()
      this.scanner.interval() // even when this tick only joins a burst under way: the next one announces everything
      void this.pacer.burst('interval')
    }, this.options.intervalMs)
  }

  /**
   * Every datagram that reaches the discovery port given to `hear` too, from now until the returned removal: a
   * listener in this process (`--seed`) then binds no socket of its own there, and the kernel hands each
   * datagram to the process once, not twice.
   */
  hear(hear: (datagram: Datagram) => void): () => void {
    return this.intake.hear(hear)
  }

  /** Stop; with `goodbye`, first tell everyone this peer is leaving ("files":[]). */
  async stop(options: { goodbye?: boolean } = {}): Promise<void> {
    this.pacer.stop() // no burst starts from now on: none may follow the goodbye
    clearInterval(this.ticker)
    this.scanner.close()
    await this.pacer.bursting
    const socket = this.socket
    if (!socket) return
    try {
      if (options.goodbye) {
        const [bye] = encodeAnnouncements(
          await this.peer(),
          this.options.tcpPort,
          [],
          this.maxBytes,
          this.options.transport,
        )
        await Promise.all(this.destinations().map(([address, port]) => this.send(bye!, address, port)))
        this.log.info('goodbye sent')
      }
    } finally {
      // Even when the goodbye failed: a socket left bound would keep the process alive.
      this.socket = undefined
      await socket.stop()
    }
  }

  /**
   * The host's interfaces changed (interface-watch.ts): bursts go to these broadcast addresses and groups from now
   * on, the port is bound on these addresses, and the whole store is announced soon, for the hosts that have
   * heard nothing of it.
   */
  async retarget(targets: Pick<AnnouncerOptions, 'broadcast' | 'groups' | 'unicastAddresses'>): Promise<void> {
    this.options.broadcast = [...targets.broadcast]
    this.options.groups = targets.groups ?? []
    this.options.unicastAddresses = targets.unicastAddresses ?? []
    await this.socket?.sync(this.options.groups, this.options.unicastAddresses)
    this.scanner.interval()
    this.schedule('interfaces changed')
  }

  /** Announce soon: now if the last burst was long enough ago, else as soon as allowed. */
  schedule(reason: string, delayMs = 0): void {
    this.pacer.schedule(reason, delayMs)
  }

  private storeChanged(): void {
    this.schedule('store changed', this.options.changeDelayMs ?? CHANGE_DELAY_MS)
  }

  private destinations(everyFamily = true): Array<[string, number]> {
    return burstDestinations(this.options, everyFamily)
  }

  private peer(): Promise<string> {
    return this.options.peerId !== undefined ? Promise.resolve(this.options.peerId) : this.options.store.peerId()
  }

  /** The largest datagram payload: inside a private swarm, what still fits once sealed. */
  private get maxBytes(): number {
    const max = this.options.maxDatagramBytes ?? MAX_DATAGRAM_BYTES
    return this.options.guard ? this.options.guard.payloadWithin(max) : max
  }

  /**
   * Inside a private swarm, `payload` padded with JSON whitespace to the largest payload, then sealed: every sealed
   * datagram is one size, so its length tells a stranger nothing (an attacker matched a sealed announcement's
   * length to one of a guessed name and size, byte for byte: fifty-first session).
   */
  private seal(payload: Buffer, answering?: Buffer): Buffer {
    const guard = this.options.guard
    if (!guard) return payload
    const padded = payload.length < this.maxBytes ? Buffer.alloc(this.maxBytes, 0x20) : payload
    if (padded !== payload) payload.copy(padded)
    return guard.seal(padded, answering)
  }

  /**
   * Leave item `id` out of every burst, and so of every answer, until the
   * returned release is called (a download by name with --seed, before its
   * name is decided: cli/seed.ts). Each hold has its one release; a second
   * call of it does nothing; the last release announces the item soon.
   */
  withhold(id: string): () => void {
    const release = this.withheld.hold(id)
    // Answers come from the last burst: not from this item any more (what was already sent stays sent).
    if (this.announced) this.announced = { ...this.announced, files: this.announced.files.filter((f) => f.id !== id) }
    return release
  }

  /** What one burst says, sent (burst-pacer.ts decides when: one at a time). */
  private async announce(reason: string): Promise<void> {
    const { entries, whole } = await this.scanner.next((id) => this.withheld.has(id))
    const files = entries.map(localFileOf)
    const peer = await this.peer()
    this.announced = { peer, files }
    const format = {
      maxBytes: this.maxBytes,
      ...(this.options.transport ? { transport: this.options.transport } : {}),
    }
    // A burst for a change carries only what changed since the last burst (sent-entries.ts); none, when nothing
    // did, but the goodbye ("files":[]) at once when the store was just emptied.
    const emptied = files.length === 0 && this.sent.size > 0
    const sent = this.sent.pick(files, entryEncoder(peer, this.options.tcpPort, format), whole)
    const datagrams =
      whole || emptied || sent.length > 0 ? packEntries(peer, this.options.tcpPort, sent, format).datagrams : []
    this.largeStore = !fitsOneDatagram(peer, this.options.tcpPort, this.sent.storeBytes, format)
    for (const [address, port] of this.destinations(whole || emptied))
      for (const datagram of datagrams) await this.send(datagram, address, port)
    const report = {
      files: entries.length,
      sent: sent.length,
      whole,
      datagrams: datagrams.length,
      bytes: datagrams.reduce((s, d) => s + d.length, 0),
      reason,
    }
    this.log.debug(report, 'announced')
    this.report(report)
  }

  /** The burst went out: a listener that throws is its own fault, logged as such, not as a failed announcement. */
  private report(report: BurstReport): void {
    try {
      this.onBurst?.(report)
    } catch (err) {
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'the announcement listener failed')
    }
  }

  /** Never throws (discovery-sockets.ts): a destination that cannot be reached is logged at debug level. */
  private async send(datagram: Buffer, address: string, port: number): Promise<void> {
    await this.socket?.send(this.seal(datagram), address, port)
  }
}
