import { type AddressInfo, createServer, type Server, type Socket } from 'node:net'
import { BufferPool, type OnViolation } from '../buffer-pool.js'
import type { DhtSession } from '../dht/session.js'
import { type Collaborators, componentLog, type Logger, silentLogger } from '../log.js'
import { addressKey, ConnectionTable, DEFAULT_RECLAIM_IDLE_MS, type Refused, refusalText } from './admission.js'
import { ByteBudget } from './budget.js'
import { ChunkSource } from './chunk-source.js'
import type { Channel, ConnectionServices } from './connection-services.js'
import { connectionLog, heldBackFields, LogGate } from './log-gate.js'
import type { NotNow } from './messages.js'
import { Refusals, refuse } from './refusals.js'
import { ServerConnection } from './server-connection.js'
import { listenTcp } from './server-listen.js'
import { type ChunkServerOptions, type ServerLimits, type ServerStats, serverLimits } from './server-settings.js'
import { ServerTally } from './server-tally.js'
import { ServerTransport } from './server-transport.js'
import { StalledSockets } from './stalled-sockets.js'
import { StoreCatalog } from './store-catalog.js'
import { UnprovenSessions } from './unproven-sessions.js'
import { UnsentBytes } from './unsent-bytes.js'
import { DEFAULT_UPLOAD_SLOT_LIMITS, UploadSlots } from './upload-slots.js'

/** Refusals to one address whose answers may be on their way at once; its others are closed unanswered. */
const MAX_REFUSALS_CLOSING = 4

export {
  type ChunkServerOptions,
  DEFAULT_SERVER_LIMITS,
  type ServerLimits,
  type ServerStats,
} from './server-settings.js'

/**
 * p2p-serve's engine: accepts connections (within a total and a per-address
 * cap), gives each a `ServerConnection` with only what it may use (the chunk
 * source, an account in the shared byte budget, pooled buffers, limits,
 * counters, a logger), and stops them on close. What is served, and how it
 * is verified, is `ChunkSource`'s; which files exist is `StoreCatalog`'s;
 * what it and its connections did is counted in its `ServerTally`.
 */

/** A chunk server for `options.store` (not listening yet: call `listen()`). */
export function createChunkServer(
  options: Omit<ChunkServerOptions, 'log'>,
  collaborators: Collaborators = {},
): ChunkServer {
  return new ChunkServer({ ...options, log: componentLog(collaborators, 'chunk-server') })
}

export class ChunkServer {
  readonly limits: ServerLimits
  readonly log: Logger
  readonly budget: ByteBudget
  readonly buffers: BufferPool
  private readonly stalls: StalledSockets
  private readonly tally = new ServerTally()
  /** Set as close() begins: a DHT session proven after it is closed instead. */
  private closing = false
  private readonly unproven: UnprovenSessions<DhtSession>
  private readonly catalog: StoreCatalog
  private readonly source: ChunkSource
  private readonly server: Server
  private readonly connections: ConnectionTable<ServerConnection>
  /** Sockets refused with E_BUSY, until they close (their answer may still be in flight). */
  private readonly refused: Refusals
  /** Per-connection log lines, bounded per remote address. */
  private readonly logGate = new LogGate()
  private readonly services: Omit<ConnectionServices, 'openAccount'>
  private readonly host: string
  private readonly port: number
  private readonly transport: ServerTransport
  private readonly uploads: UploadSlots

  constructor(options: ChunkServerOptions) {
    this.limits = serverLimits(options.limits)
    this.log = options.log ?? silentLogger()
    this.host = options.host ?? '0.0.0.0'
    this.port = options.port ?? 0
    this.transport = new ServerTransport(options.secure, this.log, this.tally, this.logGate, this.limits.frameTimeoutMs)
    const onViolation: OnViolation = (err) => {
      this.tally.counts.violations++
      this.tally.error('E_INTERNAL')
      this.log.error({ err: err.message }, 'a resource was released twice (a bug; the second release was ignored)')
      options.onViolation?.(err)
    }
    this.connections = new ConnectionTable({
      ...this.limits,
      reclaimIdleMs: options.reclaimIdleMs ?? DEFAULT_RECLAIM_IDLE_MS,
    })
    this.budget = new ByteBudget(this.limits.maxBufferedBytes, { onViolation })
    this.buffers = new BufferPool({ onViolation })
    this.stalls = new StalledSockets(this.limits.maxBufferedBytes)
    this.refused = new Refusals({ perAddress: MAX_REFUSALS_CLOSING, total: this.limits.maxConnections })
    this.unproven = new UnprovenSessions(this.limits.maxConnections)
    this.uploads = new UploadSlots({ ...DEFAULT_UPLOAD_SLOT_LIMITS, slots: this.limits.uploadSlots })
    this.catalog = new StoreCatalog(options.store, { rescanMs: options.rescanMs, log: this.log })
    this.source = new ChunkSource(options.store, this.catalog, {
      log: this.log,
      syncReadBytes: options.syncReadBytes,
      vouched: options.vouched,
      hashPace: options.hashPace,
    })
    this.services = {
      uploadWait: () => undefined, // this and warningGate replaced per connection (accept)
      warningGate: () => ({ log: false }),
      responder: this.source,
      buffers: this.buffers,
      log: this.log,
      limits: this.limits,
      counters: this.tally,
      stalls: this.stalls,
      // One poller for all of them: a poll reads the kernel's table once, however many connections are ending.
      unsent: options.unsentBytes ?? new UnsentBytes(),
    }
    // Half open: a client may end its half right after its requests (shutdown(SHUT_WR)); each connection answers
    // what it received and ends ours once the kernel has sent it all (graceful-end.ts), keeping its slot until then.
    this.server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket))
  }

  get files(): number {
    return this.catalog.size
  }

  /**
   * Ends (resets) every connection whose peer the transport would not let in now: its allow-list was read again
   * (AllowList.follow) without it. Sessions still in their handshake are judged there. Returns how many.
   */
  closeNotAdmitted(): number {
    let closed = 0
    for (const c of [...this.connections.connections()]) {
      const key = c.peerKey
      if (key === undefined || this.transport.admits(key)) continue
      c.destroy()
      closed++
    }
    if (closed > 0) this.log.info({ closed }, 'connections of peers no longer allowed ended')
    return closed
  }

  /** Connections open now. */
  get openConnections(): number {
    return this.connections.size
  }

  get stats(): ServerStats {
    return {
      ...this.tally.stats,
      ...this.source.stats,
      scans: this.catalog.scans,
      evictedStalled: this.stalls.evictions,
      budgetInUse: this.budget.inUse,
    }
  }

  async listen(): Promise<AddressInfo> {
    await this.catalog.open()
    // The store's watches end with a failed listen: a library caller that catches it keeps nothing open.
    await listenTcp(this.server, this.host, this.port).catch((err: unknown) => {
      this.catalog.close()
      throw err
    })
    // After listening, accept errors (EMFILE: out of file descriptors) are logged, not fatal.
    this.server.on('error', (err: NodeJS.ErrnoException) =>
      this.log.error({ code: err.code, err: err.message }, 'server error'),
    )
    return this.server.address() as AddressInfo
  }

  /**
   * Stop accepting; let in-flight responses finish, and reach their clients, for up to `graceMs` (each connection
   * then ends its half: graceful-end.ts), then drop every connection left (a reset where the kernel may still hold
   * answers) and wait (up to `graceMs` again) for reads still running to give back their bytes, so
   * `stats.budgetInUse` is 0 after.
   */
  async close(graceMs = 2000): Promise<void> {
    this.closing = true
    this.unproven.closeAll()
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.catalog.close()
    this.stalls.close()
    // A timer that keeps the process alive: sockets that stopped reading do not, and close must end.
    let grace: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all([...this.connections.connections()].map((c) => c.finish())),
      new Promise((resolve) => {
        grace = setTimeout(resolve, graceMs)
      }),
    ])
    clearTimeout(grace)
    for (const c of [...this.connections.connections()]) c.destroy()
    // A refused client that does not read would hold the listener open (its timeout does not keep the process alive).
    this.refused.destroyAll()
    // What the log gate held back since the last line it let through would otherwise never be told.
    const heldBack = this.logGate.heldBack()
    if (heldBack > 0) this.log.info({ linesHeldBack: heldBack }, 'log lines held back before the end')
    await closed
    // Reads that were running when their connection went give back what they hold when they end.
    await Promise.race([
      this.budget.idle(),
      new Promise((resolve) => {
        grace = setTimeout(resolve, graceMs)
      }),
    ])
    clearTimeout(grace)
  }

  /**
   * A connection that came through the DHT (dht-seeder.ts): counted, capped and served like a TCP one once its
   * dialler returned the greeting's challenge (dht/greeting.ts), under the address the engine's stream is connected
   * to, which that shows it receives at. Until then it waits paused, in no slot (unproven-sessions.ts): a relay
   * names the dialler's address, and a hostile one had sessions counted under addresses it made up (attacker,
   * fifty-fourth session: 260 of them and 0 of 3 honest downloads).
   */
  acceptSession(session: DhtSession): void {
    this.transport.watchSession(session)
    session.pause()
    if (this.closing) {
      session.destroy()
      return
    }
    const gaveWay = this.unproven.hold(session, () => {
      if (this.closing) return session.destroy()
      this.accept(session, session, true)
      session.resume()
    })
    if (gaveWay) this.tally.counts.unprovenClosed++
  }

  private accept(socket: Socket | DhtSession, channel?: Channel, dht = false): void {
    const address = addressKey(socket.remoteAddress)
    const admission = this.connections.admit(address, dht)
    if (!admission.admitted) {
      this.refuse(socket, address, admission.reason, channel)
      return
    }
    if (admission.reclaimed) this.tally.reclaimed(admission.reclaimed)
    this.tally.counts.connections++
    const log = connectionLog(this.services.log, this.logGate.pass(address))
    const connection = new ServerConnection(channel ?? this.transport.channel(socket as Socket), {
      ...this.services,
      log,
      openAccount: (onReclaim) => this.budget.account(address, onReclaim),
      uploadWait: () => this.uploadWait(address),
      warningGate: () => this.logGate.pass(address, true),
    })
    this.connections.add(connection, address)
    socket.once('close', () => {
      this.connections.release(connection)
      if (this.connections.from(address) === 0) this.uploads.leave(address)
    })
  }

  /**
   * Turn a connection away with E_BUSY, or, past what `refused` lets be answered at once, without a word; one
   * from an address opening too many is closed before its handshake (answering would cost what the limit saves).
   */
  private refuse(socket: Socket | DhtSession, address: string, reason: Refused, channel?: Channel): void {
    const refusal = refusalText(reason, this.limits)
    if (reason === 'rate') this.tally.counts.refusedRate++
    else this.tally.counts.refusedBusy++
    if (reason === 'address') this.tally.counts.refusedPerAddress++
    const line = this.logGate.pass(address)
    if (line.log)
      this.log.warn(
        {
          remote: socket.remoteAddress,
          connections: this.connections.size,
          fromAddress: this.connections.from(address),
          ...heldBackFields(line),
        },
        `connection refused: ${refusal}`,
      )
    if (reason === 'rate') {
      socket.destroy() // unanswered: an answer costs the handshake the rate spares
      return
    }
    if (!this.refused.take(socket, address)) {
      this.tally.counts.refusedUnanswered++
      socket.destroy()
      return
    }
    refuse(channel ?? this.transport.channel(socket as Socket), 'E_BUSY', refusal)
  }

  /**
   * Whether a chunk may go to this connection's peer now (upload-slots.ts). A peer is an address (an IPv6 /64),
   * as for the byte budget, not a key: keys cost nothing to make, so a stranger with a hundred of them would
   * otherwise stand a hundred times in the line.
   */
  private uploadWait(address: string): NotNow | undefined {
    const notNow = this.uploads.notNow(address, performance.now())
    if (notNow) this.tally.counts.notNow++
    return notNow
  }
}
