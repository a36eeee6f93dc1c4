import { MAX_DATAGRAM_BYTES } from '../constants.js'
import { type Collaborators, componentLog, type Logger, silentLogger } from '../log.js'
import { packedDataPath } from '../packed.js'
import type { StoreEntry } from '../store.js'
import { StoreChanges } from '../store-changes.js'
import { encodeAnnouncements, entryEncoder, fitsOneDatagram, localFileOf, packEntries } from './announcement-encode.js'
import {
  type AnnouncerOptions,
  type BurstReport,
  burstDestinations,
  CHANGE_DELAY_MS,
  LARGE_BURST_GAP_MS,
  MIN_BURST_GAP_MS,
  RESCAN_MS,
} from './announcer-options.js'
import { BurstKinds } from './burst-kinds.js'
import { type Datagram, DiscoverySockets } from './discovery-sockets.js'
import type { Announced } from './query-answer.js'
import { type AnnouncerStats, QueryAnswerer } from './query-answerer.js'
import { SentEntries } from './sent-entries.js'
import { familyOf } from './udp-sockets.js'
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
 * changed (sent-entries.ts) shortly after the store changes (a split, chunks a running download
 * lists in its `data.have`: the store root and each entry directory are
 * watched, not what a download writes into `data`; a download in this
 * process says at once what it wrote, through `live`); bursts caused by store
 * changes are at least `minBurstGapMs` apart, and at least
 * LARGE_BURST_GAP_MS for a store whose whole announcement takes more than
 * one datagram (each burst lists the whole store: store.ts), so a busy
 * store cannot make it flood the LAN or a core. A small store's changes go out four
 * times a second: in a swarm, what a download just got is what the others
 * should ask it for instead of the seeder (docs/benchmarks.md: at N = 4 the
 * seeder sent 1.22 × the file instead of 1.33 ×, medians). A burst reads
 * again only the entry directories whose watch saw a change; the whole
 * store is read at start, after a failed burst and every RESCAN_MS (burst-kinds.ts).
 *
 * Queries heard on its sockets are answered from the last burst's scan,
 * within a budget and rate limits: by unicast to a query sent to this host,
 * where the bursts go for one that came by broadcast (query-answerer.ts).
 */

/** An announcer for `options.store` (silent until `start()`). */
export function createAnnouncer(options: Omit<AnnouncerOptions, 'log'>, collaborators: Collaborators = {}): Announcer {
  return new Announcer({ ...options, log: componentLog(collaborators, 'announcer') })
}

export class Announcer {
  private socket: DiscoverySockets | undefined
  private ticker: NodeJS.Timeout | undefined
  private pending: NodeJS.Timeout | undefined
  private readonly changes: StoreChanges
  private lastBurst = 0
  /** The store's whole announcement takes more than one datagram (as of the last burst). */
  private largeStore = false
  private stopping = false
  private bursting: Promise<void> | undefined
  private again = false
  private readonly kinds: BurstKinds
  /** What the bursts told the LAN so far: a burst for a change sends only what differs. */
  private readonly sent = new SentEntries()
  /** What the last burst announced: answers are made from it. */
  private announced: Announced | undefined
  private readonly answerer: QueryAnswerer
  private stopListening: (() => void) | undefined
  private readonly log: Logger
  /** Ids left out of every burst and answer (`withhold`). */
  private readonly withheld = new WithheldIds(() => this.schedule('released'))
  readonly stats: AnnouncerStats
  onBurst: ((report: BurstReport) => void) | undefined
  /** Who else in this process hears the discovery port through our sockets (`hear`). */
  private readonly hearers = new Set<(datagram: Datagram) => void>()

  private readonly options: AnnouncerOptions

  constructor(options: AnnouncerOptions) {
    this.options = { ...options } // its own: retarget() changes where bursts go
    this.log = options.log ?? silentLogger()
    this.changes = new StoreChanges(options.store, () => this.storeChanged(), this.log)
    this.kinds = new BurstKinds(Math.max(options.intervalMs, options.rescanMs ?? RESCAN_MS))
    this.answerer = new QueryAnswerer(
      this.options,
      {
        announced: () => this.announced,
        bursting: () => this.bursting,
        open: () => this.socket !== undefined,
        maxBytes: () => this.maxBytes,
        seal: (payload, answering) => this.seal(payload, answering),
        burstTargets: (family) =>
          this.options.broadcast
            .filter((address) => familyOf(address) === family)
            .map((address): [string, number] => [address, this.options.udpPort]),
        knowsHostAddresses: (family) => (this.options.unicastAddresses ?? []).some((a) => familyOf(a) === family),
        send: async (payload, address, port) => (await this.socket?.send(payload, address, port)) ?? false,
      },
      this.log,
    )
    this.stats = this.answerer.stats
  }

  async start(): Promise<void> {
    const answer = (d: Datagram): void => this.answerer.onMessage(d)
    const sockets = new DiscoverySockets({
      port: this.options.udpPort,
      families: this.options.families ?? { ipv4: true, ipv6: false },
      groups: this.options.groups ?? [],
      unicastAddresses: this.options.unicastAddresses ?? [],
      ...(this.options.bindAddress !== undefined ? { bindAddress: this.options.bindAddress } : {}),
      log: this.log,
      // The same bytes to each: none writes them (a sealed one is opened into a copy); one that throws is logged,
      // and the others still get the datagram.
      onDatagram: (d) => {
        this.deliver(answer, d)
        for (const hear of this.hearers) this.deliver(hear, d)
      },
    })
    await sockets.start()
    this.socket = sockets
    this.changes.start()
    this.stopListening = this.options.live?.onGrowth(() => this.storeChanged())
    await this.burst('start')
    this.ticker = setInterval(() => {
      void this.socket?.refresh()
      this.kinds.interval() // even when this tick only joins a burst under way: the next one announces everything
      void this.burst('interval')
    }, this.options.intervalMs)
  }

  /**
   * Every datagram that reaches the discovery port given to `hear` too, from now until the returned removal: a
   * listener in this process (`--seed`) then binds no socket of its own there, and the kernel hands each
   * datagram to the process once, not twice.
   */
  hear(hear: (datagram: Datagram) => void): () => void {
    this.hearers.add(hear)
    return () => this.hearers.delete(hear)
  }

  private deliver(consumer: (datagram: Datagram) => void, datagram: Datagram): void {
    try {
      consumer(datagram)
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'a datagram consumer failed')
    }
  }

  /** Stop; with `goodbye`, first tell everyone this peer is leaving ("files":[]). */
  async stop(options: { goodbye?: boolean } = {}): Promise<void> {
    this.stopping = true // no burst starts from now on: none may follow the goodbye
    clearInterval(this.ticker)
    clearTimeout(this.pending)
    this.changes.close()
    this.stopListening?.()
    await this.bursting
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
    this.kinds.interval()
    this.schedule('interfaces changed')
  }

  /** Announce soon: now if the last burst was long enough ago, else as soon as allowed. */
  schedule(reason: string, delayMs = 0): void {
    if (this.pending || !this.socket || this.stopping) return
    const wait = Math.max(delayMs, this.lastBurst + this.burstGap() - Date.now())
    this.pending = setTimeout(() => {
      this.pending = undefined
      // Decided again now: a burst may have started meanwhile, or grown past one datagram.
      if (this.bursting) return void this.bursting.then(() => this.schedule(reason))
      if (this.lastBurst + this.burstGap() > Date.now()) return this.schedule(reason)
      void this.burst(reason)
    }, wait)
  }

  private storeChanged(): void {
    this.schedule('store changed', this.options.changeDelayMs ?? CHANGE_DELAY_MS)
  }

  /** The least time from the last burst's start to a burst for a store change. */
  private burstGap(): number {
    const gap = this.options.minBurstGapMs ?? MIN_BURST_GAP_MS
    return this.largeStore ? Math.max(gap, LARGE_BURST_GAP_MS) : gap
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
    return this.options.guard ? Math.min(max, this.options.guard.maxPayload) : max
  }

  private seal(payload: Buffer, answering?: Buffer): Buffer {
    return this.options.guard ? this.options.guard.seal(payload, answering) : payload
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

  /** Send one burst; a burst asked for while one is being sent follows it (the store may have changed meanwhile). */
  private burst(reason: string): Promise<void> {
    if (!this.socket || this.stopping) return Promise.resolve()
    if (this.bursting) {
      this.again = true
      return this.bursting
    }
    this.lastBurst = Date.now()
    this.bursting = (async () => {
      await this.changes.refresh()
      const unchanged = this.changes.takeUnchanged()
      const { whole, rescan } = this.kinds.next()
      const scanned = await this.options.store.scan(rescan ? undefined : unchanged)
      const entries = scanned.filter((entry) => !this.withheld.has(entry.id))
      for (const entry of entries) this.addLive(entry)
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
    })()
      .catch((err: unknown) => {
        this.kinds.failed() // its changes were taken, and what a whole burst refreshes was not sent: all, next time
        this.log.warn({ err: (err as Error).message }, 'announcement failed')
      })
      .finally(() => {
        this.bursting = undefined
        if (this.again) {
          this.again = false
          this.schedule(`${reason} (again)`) // the store may have changed during the scan: soon, but within the gap
        }
      })
    return this.bursting
  }

  /** What a download in this process wrote since its last `data.have`, added to the entry's have-set. */
  private addLive(entry: StoreEntry): void {
    const live = this.options.live?.haveOf(packedDataPath(entry.dir))
    if (live?.length === entry.have.length) entry.have.add(live) // another length: another manifest's writer
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
