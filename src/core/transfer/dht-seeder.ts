import type HyperDHT from 'hyperdht'
import type { DhtServer, DhtSocket } from 'hyperdht'
import { createDhtNode, type DhtSettings } from '../dht/node.js'
import { DhtSession } from '../dht/session.js'
import { topicOf } from '../dht/topic.js'
import { P2PError } from '../errors.js'
import { type Collaborators, componentLog, type Logger, silentLogger } from '../log.js'
import type { ChunkStore } from '../store.js'
import { formatPeerId } from '../trust/peer-id.js'
import type { Trust } from '../trust/trust.js'
import type { ChunkServer } from './chunk-server.js'

/**
 * p2p-serve's side of the DHT (docs/protocol.md §6): a DHT server keyed by
 * this peer's identity (its peer ID is its DHT address), announced under one
 * topic per file the store holds (topic.ts), re-announced every
 * `announceEveryMs` and when the store changes (checked every `rescanMs`).
 * Each connection that comes through it becomes a DhtSession (allow-list,
 * swarm proof) handed to the same ChunkServer as TCP connections: the same
 * frames, limits, budget and counters. A key the allow-list refuses is
 * turned away by the DHT's firewall before any session starts.
 */

export interface DhtSeederOptions {
  server: ChunkServer
  store: ChunkStore
  trust: Trust
  dht: DhtSettings
  /** Re-announce every topic this often (DHT records expire: hyperswarm refreshes every 10 minutes too). */
  announceEveryMs?: number
  /** Look for files added or removed this often. */
  rescanMs?: number
  log?: Logger
}

export const DEFAULT_ANNOUNCE_EVERY_MS = 10 * 60_000
export const DEFAULT_DHT_RESCAN_MS = 5_000

export interface DhtSeederStats {
  topics: number
  announces: number
  announceFailures: number
  sessions: number
  /** Keys the allow-list turned away at the DHT's firewall. */
  firewalled: number
  /** Times the DHT came back after being unreachable (then everything is announced again). */
  reconnects: number
}

export function createDhtSeeder(options: Omit<DhtSeederOptions, 'log'>, collaborators: Collaborators = {}): DhtSeeder {
  return new DhtSeeder({ ...options, log: componentLog(collaborators, 'dht-seeder') })
}

export class DhtSeeder {
  private node: HyperDHT | undefined
  private server: DhtServer | undefined
  private readonly announced = new Map<string, Buffer>()
  private readonly log: Logger
  private timer: NodeJS.Timeout | undefined
  private lastFullAnnounce = 0
  private syncing: Promise<void> | undefined
  private stopped = false
  private readonly counts = { announces: 0, announceFailures: 0, sessions: 0, firewalled: 0, reconnects: 0 }

  constructor(private readonly options: DhtSeederOptions) {
    if (options.trust.transport !== 'encrypted')
      throw new P2PError('E_USAGE', '--dht needs the encrypted transport: drop --transport plain')
    this.log = options.log ?? silentLogger()
  }

  get stats(): DhtSeederStats {
    return { topics: this.announced.size, ...this.counts }
  }

  /** The DHT server's key: our peer ID. */
  get peerId(): string {
    return this.options.trust.identity.peerId
  }

  /** Joins the DHT, listens on our key and announces every file held; resolves once the first announces are done. */
  async start(): Promise<void> {
    const { trust } = this.options
    const keyPair = trust.identity.keyPair
    this.node = await createDhtNode(this.options.dht, keyPair)
    const allow = trust.allow
    this.server = this.node.createServer({
      firewall: (remoteKey: Buffer) => {
        if (!allow || allow.allows(remoteKey)) return false
        this.counts.firewalled++
        this.log.warn({ peer: formatPeerId(remoteKey) }, 'DHT connection refused: not on the allow-list')
        return true
      },
    })
    this.server.on('connection', (socket) => this.onConnection(socket))
    this.watchHealth(this.node)
    await this.node.ready()
    await this.server.listen(keyPair)
    await this.sync(true)
    this.timer = setInterval(() => void this.sync(false), this.options.rescanMs ?? DEFAULT_DHT_RESCAN_MS)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    await this.syncing
    const node = this.node
    if (!node) return
    // Unannounce within a bound: a DHT that stopped answering must not hold Ctrl-C.
    await Promise.race([
      Promise.allSettled(
        [...this.announced.values()].map((topic) => node.unannounce(topic, this.options.trust.identity.keyPair)),
      ),
      new Promise((resolve) => setTimeout(resolve, 2000).unref()),
    ])
    await this.server?.close().catch(() => undefined)
    await node.destroy({ force: true }).catch(() => undefined)
  }

  /**
   * Back online after an outage (the uplink cut, a NAT that forgot us), announce everything again at once: the
   * nodes that relay connections to our key and hold our topics may have dropped us meanwhile while still
   * answering pings, and the engine alone would notice only at its next periodic refresh (minutes), turning
   * every dial away as "peer not found" until then.
   */
  private watchHealth(node: HyperDHT): void {
    let healthy = true
    node.on('network-update', () => {
      const now = node.online && !node.degraded
      if (now && !healthy && !this.stopped) {
        this.counts.reconnects++
        this.log.info({ reconnects: this.counts.reconnects }, 'DHT reachable again: refreshing our key and topics')
        this.server?.refresh()
        this.lastFullAnnounce = 0
        void this.sync(false)
      }
      healthy = now
    })
  }

  private onConnection(socket: DhtSocket): void {
    const { trust } = this.options
    this.counts.sessions++
    const session = new DhtSession(socket, {
      initiator: false,
      handshakeTimeoutMs: trust.handshakeTimeoutMs,
      proofKey: trust.swarm?.proofKey,
      allow: trust.allow ? (key) => trust.allow!.allows(key) : undefined,
    })
    this.options.server.acceptSession(session)
  }

  /** Announce new files (and all, when due), unannounce those gone; one at a time. */
  private sync(first: boolean): Promise<void> {
    if (this.syncing || this.stopped) return this.syncing ?? Promise.resolve()
    this.syncing = this.announceHeld(first).finally(() => {
      this.syncing = undefined
    })
    return this.syncing
  }

  private async announceHeld(first: boolean): Promise<void> {
    const node = this.node!
    const keyPair = this.options.trust.identity.keyPair
    const every = this.options.announceEveryMs ?? DEFAULT_ANNOUNCE_EVERY_MS
    const all = first || Date.now() - this.lastFullAnnounce >= every
    if (all) this.lastFullAnnounce = Date.now()
    let entries: Array<{ id: string }>
    try {
      entries = await this.options.store.scan()
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'store scan failed; DHT topics unchanged')
      return
    }
    const held = new Set(entries.map((e) => e.id))
    for (const [id, topic] of this.announced)
      if (!held.has(id)) {
        this.announced.delete(id)
        await node.unannounce(topic, keyPair).catch(() => undefined)
      }
    const topicKey = this.options.trust.swarm?.topicKey
    for (const id of held) {
      if (this.stopped) return
      if (!all && this.announced.has(id)) continue
      const topic = topicOf(id, topicKey)
      try {
        await node.announce(topic, keyPair, this.server!.relayAddresses).finished()
        this.counts.announces++
        this.announced.set(id, topic)
        this.log.debug({ id, topic: topic.toString('hex') }, 'announced on the DHT')
      } catch (err) {
        this.counts.announceFailures++
        this.log.warn({ id, err: (err as Error).message }, 'DHT announce failed; retried at the next scan')
      }
    }
  }
}
