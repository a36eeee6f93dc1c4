import type HyperDHT from 'hyperdht'
import type { DhtServer, DhtSocket, Query } from 'hyperdht'
import { guardHandshakes, HandshakeBounds, type HandshakeCharge } from '../dht/handshake-source.js'
import { createDhtNode, type DhtSettings } from '../dht/node.js'
import { DhtSession } from '../dht/session.js'
import { topicOf } from '../dht/topic.js'
import { hasCode, P2PError } from '../errors.js'
import { type Collaborators, componentLog, type Logger, silentLogger } from '../log.js'
import type { ChunkStore } from '../store.js'
import { formatPeerId } from '../trust/peer-id.js'
import type { Trust } from '../trust/trust.js'
import { unlessAborted } from '../unless-aborted.js'
import type { ChunkServer } from './chunk-server.js'
import { lockDhtSeeding } from './dht-seeder-lock.js'
import { heldBackFields, LogGate } from './log-gate.js'
import { UNPROVEN_DEADLINE_MS } from './unproven-sessions.js'

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
export { HANDSHAKES_PER_SECOND } from '../dht/handshake-source.js'

export interface DhtSeederStats {
  topics: number
  announces: number
  announceFailures: number
  sessions: number
  /** Keys the allow-list turned away at the DHT's firewall. */
  firewalled: number
  /** Handshakes left unanswered because their source opened too many (HANDSHAKES_PER_SECOND; handshake-source.ts). */
  rateLimited: number
  /** Connections closed for a message longer than any p2pshare peer sends (dht/bounded-stream.ts). */
  oversized: number
  /** Connections refused at the firewall for asking us to relay through a key (p2pshare never asks). */
  relayRefused: number
  /** Times our key had no relay on the DHT and got one again (then every topic is announced afresh). */
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
  /** Whether the server's listen (announcing our key) finished. */
  private listening = false
  /** The announce under way, if any: stop() ends it. */
  private announcing: Query | undefined
  private stopped = false
  private unreachable = false
  /** This key's DHT seeding, held from start to stop (dht-seeder-lock.ts). */
  private unlockKey: (() => Promise<void>) | undefined
  private readonly counts = {
    announces: 0,
    announceFailures: 0,
    sessions: 0,
    firewalled: 0,
    rateLimited: 0,
    oversized: 0,
    relayRefused: 0,
    reconnects: 0,
  }
  private readonly handshakes = new HandshakeBounds()
  /** Refusals' log lines, bounded per address and in all. */
  private readonly logGate = new LogGate()

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

  /**
   * Joins the DHT, listens on our key and announces every file held; resolves true once the first announces are
   * done, or false at once when `signal` aborts (each announce to a DHT that does not answer takes seconds: an
   * attacker pass had a Ctrl-C wait 68 s for ten files). stop() ends what is left.
   */
  async start(signal?: AbortSignal): Promise<boolean> {
    const { trust } = this.options
    const keyPair = trust.identity.keyPair
    this.unlockKey = await lockDhtSeeding(this.options.store, trust.identity, this.log)
    this.node = await createDhtNode(this.options.dht, keyPair)
    const allow = trust.allow
    this.server = this.node.createServer({
      firewall: (remoteKey: Buffer, payload: unknown, from?: { host?: string }) => {
        // A dialler that asks us to relay through a key would have the engine dial that key for it: p2pshare
        // never asks, so only a stranger would (to make a seeder dial whatever it names).
        if ((payload as { relayThrough?: unknown } | null)?.relayThrough) {
          this.counts.relayRefused++
          return true
        }
        const address = from?.host ?? ''
        if (allow && !allow.allows(remoteKey)) {
          this.counts.firewalled++
          // Through the gate: a stranger's refused handshakes wrote a line each, 95 MB of log an hour at 40 a
          // second (attacker, fifty-second session).
          const line = this.logGate.pass(address)
          if (line.log)
            this.log.warn(
              { peer: formatPeerId(remoteKey), from: address, ...heldBackFields(line) },
              'DHT connection refused: not on the allow-list',
            )
          return true
        }
        return false
      },
    })
    // The rate before anything else: a refusal by the allow-list costs a handshake too, and a log line.
    guardHandshakes(this.server, (charge) => this.admitHandshake(charge))
    this.server.on('connection', (socket) => this.onConnection(socket))
    const server = this.server
    if (!(await unlessAborted(this.node.ready(), signal))) return false
    this.log.info('joined the DHT; announcing our key')
    if (!(await unlessAborted(server.listen(keyPair), signal))) return false
    this.listening = true
    if (!(await unlessAborted(this.sync(true), signal))) return false
    this.timer = setInterval(() => {
      this.checkRelays()
      void this.sync(false)
    }, this.options.rescanMs ?? DEFAULT_DHT_RESCAN_MS)
    this.timer.unref()
    return true
  }

  /** Whether a handshake so charged (handshake-source.ts) may open another connection now. */
  private admitHandshake({ source, relay }: HandshakeCharge): boolean {
    if (this.handshakes.take({ source, relay })) return true
    if (this.counts.rateLimited++ % 1000 === 0)
      this.log.warn(
        { from: source, refused: this.counts.rateLimited },
        'DHT connections refused: too many from one source',
      )
    return false
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    this.announcing?.destroy() // an announce the DHT does not answer would hold the stop for seconds
    await this.syncing
    const node = this.node
    if (!node) return await this.unlockKey?.()
    // Our topics unannounced and the server closed (which unannounces our key) together, within one bound: a DHT
    // that stopped answering must not hold Ctrl-C (a bootstrap node gone since the join held it ~6 s, one bound
    // after the other; usability pass, fifty-fourth session). A listen given up at a Ctrl-C is still announcing our
    // key: closing the server waits for it, and the node's destruction after the bound ends both.
    const keyPair = this.options.trust.identity.keyPair
    await Promise.race([
      Promise.allSettled([
        ...[...this.announced.values()].map((topic) => node.unannounce(topic, keyPair)),
        ...(this.listening && this.server ? [this.server.close()] : []),
      ]),
      new Promise((resolve) => setTimeout(resolve, 2000).unref()),
    ])
    await node.destroy({ force: true }).catch(() => undefined)
    await this.unlockKey?.()
  }

  /**
   * A server with no relay node is unreachable by its key (every dial is "peer not found"). That is where an
   * outage leaves it (the uplink cut, a NAT that forgot it): the engine's re-announce during the outage found
   * nobody, and it pings only the relays it has — none — so it would not try again before its periodic
   * refresh, minutes later. Ask it to announce our key now, and once it has relays again announce every topic
   * afresh (their records name the relays).
   */
  private checkRelays(): void {
    const server = this.server
    if (!server || this.stopped) return
    if (server.relayAddresses.length === 0) {
      if (!this.unreachable) this.log.warn('no DHT node relays connections to us: announcing our key again')
      this.unreachable = true
      server.refresh()
      return
    }
    if (!this.unreachable) return
    this.unreachable = false
    this.counts.reconnects++
    this.log.info({ reconnects: this.counts.reconnects }, 'DHT reachable again: announcing every topic afresh')
    this.lastFullAnnounce = 0
  }

  private onConnection(socket: DhtSocket): void {
    const { trust } = this.options
    this.counts.sessions++
    socket.once('error', (err: Error) => {
      if (!hasCode(err, 'E_TOO_LARGE') || this.counts.oversized++ % 1000 !== 0) return
      const from = socket.rawStream?.remoteHost
      this.log.warn(
        { from, err: err.message, refused: this.counts.oversized },
        'DHT connection closed: message too large',
      )
    })
    const session = new DhtSession(socket, {
      initiator: false,
      // The engine hands a connection over once its stream is connected: an honest dialler's first bytes come a
      // round trip later, and its answer to the greeting one more. The whole handshake deadline let a relay's
      // made-up sessions hold their places (those the stream never opens for held them 10 s: attacker, this session).
      handshakeTimeoutMs: Math.min(trust.handshakeTimeoutMs, UNPROVEN_DEADLINE_MS),
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
        if (this.stopped) return // stop() unannounces what is left, within its bound
        this.announced.delete(id)
        await node.unannounce(topic, keyPair).catch(() => undefined)
      }
    const topicKey = this.options.trust.swarm?.topicKey
    for (const id of held) {
      if (this.stopped) return
      if (!all && this.announced.has(id)) continue
      const topic = topicOf(id, topicKey)
      try {
        this.announcing = node.announce(topic, keyPair, this.server!.relayAddresses)
        await this.announcing.finished()
        this.counts.announces++
        this.announced.set(id, topic)
        this.log.debug({ id, topic: topic.toString('hex') }, 'announced on the DHT')
      } catch (err) {
        if (this.stopped) return
        this.counts.announceFailures++
        this.log.warn({ id, err: (err as Error).message }, 'DHT announce failed; retried at the next scan')
      } finally {
        this.announcing = undefined
      }
    }
  }
}
