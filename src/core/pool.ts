import {
  DEFAULT_CONNECTIONS_PER_PEER,
  DEFAULT_MAX_DOWNLOAD_CONNECTIONS,
  DEFAULT_POOL_IDLE_MS,
  DEFAULT_WINDOW,
} from './constants.js'
import { P2PError } from './errors.js'
import { type Logger, silentLogger } from './log.js'

/**
 * Persistent connections to peers, shared by every request of a download.
 *
 * One connection carries many pipelined requests, so a checkout is a *lease*
 * on a slot of a connection, not exclusive use of it: `acquire` returns the
 * open connection to that peer with the fewest leases, opens another one when
 * all are at `maxLeasesPerConnection` (up to `maxPerPeer`), and otherwise
 * waits for a lease to come back. Concurrent acquires for a peer share one
 * pending connect instead of racing to open several. A connection that closes
 * (peer gone, protocol error) leaves the pool at once and is replaced on the
 * next acquire; idle ones are closed by a background sweep. The total number
 * of connections is capped; at the cap the least recently used idle
 * connection is closed to make room.
 */

export interface PooledConnection {
  readonly closed: boolean
  onClose(listener: (err?: P2PError) => void): void
  close(): void
}

export interface PeerAddress {
  readonly address: string
  readonly port: number
}

export interface PoolOptions<C extends PooledConnection> {
  connect: (peer: PeerAddress, signal: AbortSignal) => Promise<C>
  maxPerPeer?: number
  maxTotal?: number
  maxLeasesPerConnection?: number
  idleMs?: number
  sweepMs?: number
  now?: () => number
  log?: Logger
}

export interface Lease<C> {
  readonly connection: C
  /** Return the slot; safe to call more than once. */
  release(): void
}

interface Slot<C> {
  readonly connection: C
  readonly key: string
  leases: number
  lastUsed: number
}

interface Waiter {
  resolve: () => void
  reject: (err: unknown) => void
}

export const peerKey = (peer: PeerAddress): string => `${peer.address}:${peer.port}`

export class ConnectionPool<C extends PooledConnection> {
  private readonly slots = new Map<string, Array<Slot<C>>>()
  private readonly connecting = new Map<string, Promise<Slot<C>>>()
  private readonly connectAborts = new Map<string, AbortController>()
  private readonly waiters = new Map<string, Waiter[]>()
  private readonly options: Required<Omit<PoolOptions<C>, 'log'>> & { log: Logger }
  private readonly controller = new AbortController()
  private readonly sweeper: NodeJS.Timeout
  private closedPool = false

  constructor(options: PoolOptions<C>) {
    this.options = {
      maxPerPeer: DEFAULT_CONNECTIONS_PER_PEER,
      maxTotal: DEFAULT_MAX_DOWNLOAD_CONNECTIONS,
      maxLeasesPerConnection: DEFAULT_WINDOW,
      idleMs: DEFAULT_POOL_IDLE_MS,
      sweepMs: 5_000,
      now: Date.now,
      ...options,
      log: options.log ?? silentLogger(),
    }
    this.sweeper = setInterval(() => this.sweep(), this.options.sweepMs).unref()
  }

  get size(): number {
    let n = 0
    for (const list of this.slots.values()) n += list.length
    return n
  }

  connectionsTo(peer: PeerAddress): number {
    return this.slots.get(peerKey(peer))?.length ?? 0
  }

  async acquire(peer: PeerAddress, signal?: AbortSignal): Promise<Lease<C>> {
    const key = peerKey(peer)
    for (;;) {
      if (this.closedPool) throw new P2PError('E_CLOSED', 'the connection pool is closed')
      signal?.throwIfAborted()
      const list = this.slots.get(key) ?? []
      const best = list.reduce<Slot<C> | undefined>(
        (a, s) => (a === undefined || s.leases < a.leases ? s : a),
        undefined,
      )
      if (best && best.leases < this.options.maxLeasesPerConnection) return this.lease(best)
      const pending = this.connecting.get(key)
      if (pending) {
        const slot = await pending
        if (slot.leases < this.options.maxLeasesPerConnection && !slot.connection.closed) return this.lease(slot)
        continue
      }
      if (list.length < this.options.maxPerPeer && this.makeRoom()) {
        const slot = await this.open(peer, key, signal)
        return this.lease(slot)
      }
      await this.waitForRelease(key, signal)
    }
  }

  /** Close idle connections older than idleMs. Runs on a timer; callable directly (tests). */
  sweep(): void {
    const cutoff = this.options.now() - this.options.idleMs
    for (const list of this.slots.values()) {
      for (const slot of [...list]) if (slot.leases === 0 && slot.lastUsed <= cutoff) this.drop(slot, 'idle')
    }
  }

  /** Close every connection to one peer (banned, gone, or given up on), and abandon a connect under way. */
  closePeer(peer: PeerAddress): void {
    const key = peerKey(peer)
    this.connectAborts.get(key)?.abort(new P2PError('E_CLOSED', `connecting to ${key} abandoned`))
    for (const slot of [...(this.slots.get(key) ?? [])]) this.drop(slot, 'closed by caller')
  }

  close(): void {
    this.closedPool = true
    clearInterval(this.sweeper)
    this.controller.abort(new P2PError('E_CLOSED', 'the connection pool is closed'))
    for (const list of [...this.slots.values()]) for (const slot of [...list]) this.drop(slot, 'pool closed')
    for (const [key] of this.waiters) this.wake(key, new P2PError('E_CLOSED', 'the connection pool is closed'))
  }

  private lease(slot: Slot<C>): Lease<C> {
    slot.leases++
    slot.lastUsed = this.options.now()
    let released = false
    return {
      connection: slot.connection,
      release: () => {
        if (released) return
        released = true
        slot.leases--
        slot.lastUsed = this.options.now()
        if (slot.leases > 0) this.wake(slot.key)
        else for (const key of [...this.waiters.keys()]) this.wake(key) // an idle connection can make room for any peer
      },
    }
  }

  private open(peer: PeerAddress, key: string, signal?: AbortSignal): Promise<Slot<C>> {
    const abandon = new AbortController()
    this.connectAborts.set(key, abandon)
    const signals = AbortSignal.any([this.controller.signal, abandon.signal, ...(signal ? [signal] : [])])
    const pending = this.options
      .connect(peer, signals)
      .then((connection) => {
        if (abandon.signal.aborted) {
          connection.close()
          throw abandon.signal.reason
        }
        const slot: Slot<C> = { connection, key, leases: 0, lastUsed: this.options.now() }
        if (this.closedPool) {
          connection.close()
          throw new P2PError('E_CLOSED', 'the connection pool is closed')
        }
        let list = this.slots.get(key)
        if (!list) {
          list = []
          this.slots.set(key, list)
        }
        list.push(slot)
        connection.onClose((err) => this.forget(slot, err))
        this.options.log.debug({ peer: key, connections: list.length }, 'connection opened')
        return slot
      })
      .finally(() => {
        this.connecting.delete(key)
        this.connectAborts.delete(key)
        this.wake(key)
      })
    this.connecting.set(key, pending)
    return pending
  }

  /** At the total cap, close the least recently used idle connection; false when none is idle. */
  private makeRoom(): boolean {
    if (this.size + this.connecting.size < this.options.maxTotal) return true
    let victim: Slot<C> | undefined
    for (const list of this.slots.values()) {
      for (const s of list) if (s.leases === 0 && (victim === undefined || s.lastUsed < victim.lastUsed)) victim = s
    }
    if (!victim) return false
    this.drop(victim, 'making room')
    return true
  }

  private drop(slot: Slot<C>, reason: string): void {
    this.forget(slot)
    if (!slot.connection.closed) slot.connection.close()
    this.options.log.debug({ peer: slot.key, reason }, 'connection closed')
  }

  private forget(slot: Slot<C>, err?: P2PError): void {
    const list = this.slots.get(slot.key)
    const at = list?.indexOf(slot) ?? -1
    if (list === undefined || at < 0) return
    list.splice(at, 1)
    if (list.length === 0) this.slots.delete(slot.key)
    if (err) this.options.log.debug({ peer: slot.key, code: err.code }, 'connection lost')
    // A waiter for any peer may now fit under the total cap.
    for (const key of [...this.waiters.keys()]) this.wake(key)
  }

  private waitForRelease(key: string, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(key) ?? []
      this.waiters.set(key, list)
      const waiter: Waiter = { resolve, reject }
      list.push(waiter)
      signal?.addEventListener(
        'abort',
        () => {
          const at = list.indexOf(waiter)
          if (at >= 0) list.splice(at, 1)
          reject(signal.reason)
        },
        { once: true },
      )
    })
  }

  /** Wake every waiter of this peer: each re-checks (one of them gets the slot; the rest wait again). */
  private wake(key: string, err?: unknown): void {
    const list = this.waiters.get(key)
    if (!list?.length) return
    this.waiters.delete(key)
    for (const w of list) err === undefined ? w.resolve() : w.reject(err)
  }
}
