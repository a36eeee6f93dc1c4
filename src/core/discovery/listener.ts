import type { Socket } from 'node:dgram'
import { EventEmitter } from 'node:events'
import { MAX_DATAGRAM_BYTES } from '../constants.js'
import { hasCode } from '../errors.js'
import { type Collaborators, componentLog, type Logger, silentLogger } from '../log.js'
import { decodeDatagram, encodeQuery, type QueryWant } from './announcement.js'
import { ContentDictionary, type DictionaryLimits, type KnownFile } from './dictionary.js'
import { type DictionarySnapshot, jsonLine, toSnapshot } from './dictionary-file.js'
import { bindUdp } from './udp.js'

export type { KnownFile, PeerSource } from './dictionary.js'

/**
 * Receives announcements on the UDP port (bound with address reuse, so
 * listeners, downloaders and announcers on one host all hear every
 * broadcast) and keeps the content dictionary. Queries go out from a second
 * socket on a port of its own, because answers come back by unicast to the
 * query's source: on a port several processes share, only one of them would
 * get it. Every datagram is validated; a bad one is dropped, counted by
 * reason and logged at debug level. Emits 'change' when the visible picture
 * changes.
 */

export interface DiscoveryListenerOptions {
  udpPort: number
  bindAddress?: string
  /** Where query() sends. */
  broadcast: string[]
  staleAfterMs: number
  log?: Logger
  now?: () => number
  limits?: Partial<DictionaryLimits>
  maxDatagramBytes?: number
  /** What query() asks for by default (a downloader asks for its one file; the answer is then small and whole). */
  want?: QueryWant
}

export interface ListenerStats {
  received: number
  dropped: number
  droppedByReason: Record<string, number>
}

/** A discovery listener (deaf until `start()`). */
export function createListener(
  options: Omit<DiscoveryListenerOptions, 'log'>,
  collaborators: Collaborators = {},
): DiscoveryListener {
  return new DiscoveryListener({ ...options, log: componentLog(collaborators, 'listener') })
}

export class DiscoveryListener extends EventEmitter {
  readonly stats: ListenerStats = { received: 0, dropped: 0, droppedByReason: {} }
  readonly dictionary: ContentDictionary
  private socket: Socket | undefined
  private querySocket: Socket | undefined
  private sweeper: NodeJS.Timeout | undefined
  private readonly log: Logger
  private readonly now: () => number

  constructor(private readonly options: DiscoveryListenerOptions) {
    super()
    this.setMaxListeners(0)
    this.log = options.log ?? silentLogger()
    // Monotonic: a wall-clock jump (NTP, a user changing the date) must not expire or revive peers.
    this.now = options.now ?? (() => performance.now())
    this.dictionary = new ContentDictionary(options.limits)
  }

  async start(): Promise<void> {
    this.socket = await this.bind(this.options.udpPort, true)
    this.querySocket = await this.bind(0, false)
    const every = Math.max(20, Math.min(1000, this.options.staleAfterMs / 4))
    this.sweeper = setInterval(() => {
      if (this.dictionary.expire(this.now(), this.options.staleAfterMs)) this.emit('change')
    }, every)
    this.sweeper.unref()
  }

  /**
   * Ask every announcer for `want` (default: the `want` option, else
   * everything). They answer at once, by unicast, with what fits in three
   * times the query's 1,200 bytes; their periodic announcements bring the rest.
   */
  query(want: QueryWant | undefined = this.options.want): void {
    const bytes = encodeQuery(want, this.options.maxDatagramBytes ?? MAX_DATAGRAM_BYTES)
    for (const address of this.options.broadcast) {
      this.querySocket?.send(bytes, this.options.udpPort, address, (err) => {
        if (err) this.log.warn({ address, err: err.message }, 'query not sent')
      })
    }
  }

  files(): KnownFile[] {
    return this.dictionary.files()
  }

  /** The dictionary in its file format (lastSeen converted to wall-clock time). */
  snapshot(): DictionarySnapshot {
    return toSnapshot(this.files(), { now: this.now(), wallNow: Date.now() })
  }

  /** The dictionary as one bounded line (p2p-listen --json). */
  jsonLine(maxBytes?: number): string {
    return jsonLine(this.files(), { now: this.now(), wallNow: Date.now() }, maxBytes)
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
    const sockets = [this.socket, this.querySocket]
    this.socket = undefined
    this.querySocket = undefined
    await Promise.all(sockets.map((socket) => socket && new Promise<void>((resolve) => socket.close(() => resolve()))))
  }

  private bind(port: number, shared: boolean): Promise<Socket> {
    return bindUdp({
      port,
      address: this.options.bindAddress,
      reuseAddr: shared,
      log: this.log,
      onMessage: (msg, rinfo) => this.onMessage(msg, rinfo.address),
    })
  }

  private onMessage(msg: Buffer, address: string): void {
    this.stats.received++
    try {
      const message = decodeDatagram(msg, this.options.maxDatagramBytes ?? MAX_DATAGRAM_BYTES)
      if (message.type === 'more')
        this.log.debug(
          { from: address, omitted: message.omitted, interval: message.interval },
          'answer incomplete; the rest comes with periodic announcements',
        )
      if (message.type !== 'announce') return
      if (this.dictionary.merge(message, address, this.now())) this.emit('change')
    } catch (err) {
      const reason = hasCode(err) ? String(err.details?.reason ?? err.code) : 'internal'
      this.stats.dropped++
      this.stats.droppedByReason[reason] = (this.stats.droppedByReason[reason] ?? 0) + 1
      this.log.debug({ from: address, bytes: msg.length, reason, err: (err as Error).message }, 'datagram dropped')
    }
  }
}
