import { type Socket, createSocket } from 'node:dgram'
import { type FSWatcher, watch } from 'node:fs'
import { once } from 'node:events'
import { MAX_DATAGRAM_BYTES } from '../constants.js'
import { P2PError } from '../errors.js'
import { type Logger, silentLogger } from '../log.js'
import type { ChunkStore } from '../store.js'
import { decodeDatagram, encodeAnnouncements } from './announcement.js'

/**
 * Tells the LAN what this chunk store holds: a burst of announcement
 * datagrams to every broadcast address at start, every `intervalMs`, shortly
 * after the store changes (a split, chunks a running download writes: the
 * store is watched), and right after a query. Answers to queries are at
 * least `minBurstGapMs` apart (and so are bursts caused by store changes),
 * so neither queries nor a busy store can make it flood the LAN.
 */

export interface AnnouncerOptions {
  store: ChunkStore
  udpPort: number
  /** TCP port where this peer's p2p-serve answers. */
  tcpPort: number
  broadcast: string[]
  intervalMs: number
  log?: Logger
  maxDatagramBytes?: number
  /** At most one burst per this many ms, whatever asks for it (default 1000). */
  minBurstGapMs?: number
  /** How long after a store change to announce (default 200 ms, coalescing a burst of writes). */
  changeDelayMs?: number
  bindAddress?: string
}

export interface BurstReport {
  files: number
  datagrams: number
  bytes: number
  reason: string
}

export class Announcer {
  private socket: Socket | undefined
  private ticker: NodeJS.Timeout | undefined
  private pending: NodeJS.Timeout | undefined
  private watcher: FSWatcher | undefined
  private lastBurst = 0
  private lastAnswer = 0
  private answering: NodeJS.Timeout | undefined
  private bursting: Promise<void> | undefined
  private again = false
  private readonly log: Logger
  onBurst: ((report: BurstReport) => void) | undefined

  constructor(private readonly o: AnnouncerOptions) {
    this.log = o.log ?? silentLogger()
  }

  async start(): Promise<void> {
    const socket = createSocket({ type: 'udp4', reuseAddr: true })
    this.socket = socket
    socket.on('message', (msg) => this.onMessage(msg))
    socket.on('error', (err) => this.log.warn({ err: err.message }, 'discovery socket error'))
    socket.bind(this.o.udpPort, this.o.bindAddress ?? '0.0.0.0')
    try {
      await Promise.race([once(socket, 'listening'), once(socket, 'error').then(([err]) => { throw err })])
    } catch (err) {
      throw new P2PError('E_USAGE', `cannot use UDP port ${this.o.udpPort}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    socket.setBroadcast(true)
    this.watchStore()
    await this.burst('start')
    this.ticker = setInterval(() => void this.burst('interval'), this.o.intervalMs)
  }

  /** Stop; with `goodbye`, first tell everyone this peer is leaving ("files":[]). */
  async stop(options: { goodbye?: boolean } = {}): Promise<void> {
    clearInterval(this.ticker)
    clearTimeout(this.pending)
    clearTimeout(this.answering)
    this.watcher?.close()
    await this.bursting
    const socket = this.socket
    if (!socket) return
    if (options.goodbye) {
      const [bye] = encodeAnnouncements(await this.o.store.peerId(), this.o.tcpPort, [])
      await Promise.all(this.o.broadcast.map((address) => this.send(bye!, address)))
      this.log.info('goodbye sent')
    }
    this.socket = undefined
    await new Promise<void>((resolve) => socket.close(() => resolve()))
  }

  /** Announce soon: now if the last burst was long enough ago, else as soon as allowed. */
  schedule(reason: string, delayMs = 0): void {
    if (this.pending || !this.socket) return
    const wait = Math.max(delayMs, this.lastBurst + (this.o.minBurstGapMs ?? 1000) - Date.now())
    this.pending = setTimeout(() => {
      this.pending = undefined
      void this.burst(reason)
    }, wait)
  }

  /** A query: answer at once, unless the last answer was less than minBurstGapMs ago. */
  private answer(): void {
    if (this.answering || !this.socket) return
    const wait = Math.max(0, this.lastAnswer + (this.o.minBurstGapMs ?? 1000) - Date.now())
    this.answering = setTimeout(() => {
      this.answering = undefined
      this.lastAnswer = Date.now()
      void this.burst('query')
    }, wait)
  }

  private onMessage(msg: Buffer): void {
    try {
      if (decodeDatagram(msg, this.o.maxDatagramBytes ?? MAX_DATAGRAM_BYTES).type === 'query') this.answer()
    } catch {
      // Not ours to judge: listeners count bad datagrams.
    }
  }

  private watchStore(): void {
    try {
      this.watcher = watch(this.o.store.root, { recursive: true, persistent: false }, () => this.schedule('store changed', this.o.changeDelayMs ?? 200))
      this.watcher.on('error', () => this.log.debug('store watch failed; announcing on the interval only'))
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'cannot watch the store; announcing on the interval only')
    }
  }

  /** Send one burst; a burst asked for while one is being sent follows it (the store may have changed meanwhile). */
  private burst(reason: string): Promise<void> {
    if (!this.socket) return Promise.resolve()
    if (this.bursting) {
      this.again = true
      return this.bursting
    }
    this.lastBurst = Date.now()
    this.bursting = (async () => {
      const entries = await this.o.store.scan()
      const datagrams = encodeAnnouncements(await this.o.store.peerId(), this.o.tcpPort, entries.map((e) => ({ id: e.id, name: e.name, size: e.manifest.size, have: e.have })), this.o.maxDatagramBytes)
      for (const address of this.o.broadcast) for (const d of datagrams) await this.send(d, address)
      const report = { files: entries.length, datagrams: datagrams.length, bytes: datagrams.reduce((s, d) => s + d.length, 0), reason }
      this.log.debug(report, 'announced')
      this.onBurst?.(report)
    })().catch((err: unknown) => {
      this.log.warn({ err: (err as Error).message }, 'announcement failed')
    }).finally(() => {
      this.bursting = undefined
      if (this.again) {
        this.again = false
        void this.burst(`${reason} (again)`)
      }
    })
    return this.bursting
  }

  private send(datagram: Buffer, address: string): Promise<void> {
    return new Promise((resolve) => {
      if (!this.socket) return resolve()
      this.socket.send(datagram, this.o.udpPort, address, (err) => {
        if (err) this.log.warn({ address, err: err.message }, 'announcement not sent')
        resolve()
      })
    })
  }
}
