import { EventEmitter } from 'node:events'
import type HyperDHT from 'hyperdht'
import { Bitfield } from '../bitfield.js'
import { counted } from '../counted.js'
import { connectionPath, createDhtNode } from '../dht/node.js'
import { type DhtPath, DhtSession } from '../dht/session.js'
import { topicOf } from '../dht/topic.js'
import { P2PError } from '../errors.js'
import { type Collaborators, componentLog, type Logger, silentLogger } from '../log.js'
import type { PeerAddress } from '../pool.js'
import { formatPeerId } from '../trust/peer-id.js'
import type { SecureOptions } from '../trust/secure-socket.js'
import { DhtKeys, type FoundPeer, NO_SEEDER_FOR_MS, type NoSeeder, noSeeder } from './dht-keys.js'
import {
  DEFAULT_LOOKUP_EVERY_MS,
  type DhtLookupStats,
  type DhtPeersOptions,
  FIRST_RETRY_MS,
  MAX_SEARCHING_LOOKUPS,
  MIN_DHT_CONNECT_MS,
  SEARCHING_LOOKUP_EVERY_MS,
} from './dht-peers-options.js'
import type { LivePeer, PeerDialer, PeerFinder } from './job.js'
import { nextChange } from './next-change.js'

/**
 * A download's peers from the DHT (docs/protocol.md §6): looks the file's
 * topic up (again after 1, 2, 4, … s, then every `lookupEveryMs`), and
 * offers each peer found as `dht:<peer ID>` (port 0), speaking the encrypted
 * transport with that peer ID as the key its connection must reach — so the
 * same TrustedPeers, pool and scheduler as LAN peers use them (liar bans,
 * budgets). A DHT peer is taken to hold every chunk until it says otherwise
 * ("not found" clears the bit, as for any peer). Connections are dialled by
 * key (hyperdht: direct, or through a hole punch) and wrapped in a DhtSession.
 */

export const DHT_ADDRESS_PREFIX = 'dht:'

export function createDhtPeers(options: Omit<DhtPeersOptions, 'log'>, collaborators: Collaborators = {}): DhtPeers {
  return new DhtPeers({ ...options, log: componentLog(collaborators, 'dht-peers') })
}

export class DhtPeers extends EventEmitter implements PeerFinder, PeerDialer {
  private node: HyperDHT | undefined
  private readonly keys = new DhtKeys()
  /** The manifest is known (from any peer): the DHT is then no longer all the download has to find. */
  private manifest = false
  private searchingLookups = 0
  private readonly topic: Buffer
  private readonly log: Logger
  private chunkCount = 0
  private timer: NodeJS.Timeout | undefined
  private looking: Promise<void> | undefined
  private stopped = false
  /** How joining the DHT went: what describeAttempt says while it has not. */
  private join = 'still joining'
  private readonly counts = { lookups: 0, replies: 0, peersFound: 0 }

  constructor(private readonly options: DhtPeersOptions) {
    super()
    this.setMaxListeners(0)
    if (options.trust.transport !== 'encrypted')
      throw new P2PError('E_USAGE', '--dht needs the encrypted transport: drop --transport plain')
    this.topic = topicOf(options.id, options.trust.swarm?.topicKey)
    this.keys.name(options.named ?? [])
    this.log = options.log ?? silentLogger()
  }

  get stats(): DhtLookupStats {
    return {
      ...this.counts,
      topic: this.topic.toString('hex'),
      bootstrap: this.options.dht.bootstrap ? this.options.dht.bootstrap.join(',') : "the engine's public nodes",
    }
  }

  /**
   * Binds the node (a port in use is the caller's error), then joins the DHT and looks in the background: the
   * join takes seconds, longer when the bootstrap nodes do not answer, and the download's `--wait` and a Ctrl-C
   * run meanwhile (an attacker pass had `--wait 2` end after 8.5 s and a Ctrl-C wait 14 s for a join).
   */
  async start(): Promise<void> {
    const node = await createDhtNode(this.options.dht, this.options.trust.identity.keyPair)
    this.node = node
    node.ready().then(
      () => {
        if (this.stopped) return
        this.join = 'joined'
        this.takeNamed()
        this.lookupSoon(0)
      },
      (err: Error) => {
        if (this.stopped) return
        this.join = `failed to join (${err.message})`
        this.log.warn({ err: err.message }, 'joining the DHT failed')
      },
    )
  }

  /** The keys the user named, again at the next lookup once one was dropped and its hold is over (dht-keys.ts). */
  private takeNamed(): void {
    const { allow, identity } = this.options.trust
    const { taken, refused } = this.keys.takeNamed(
      (key) => !key.equals(identity.keyPair.publicKey) && (!allow || allow.allows(key)),
    )
    for (const peer of refused) this.log.warn({ peer }, 'the seeder the link names is our own key or not allowed')
    for (const peer of taken) this.log.info({ peer }, 'seeder named by the link')
    this.counts.peersFound += taken.length
    if (taken.length > 0) this.emit('change')
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.node?.destroy({ force: true }).catch(() => undefined)
  }

  /** What was tried, for the message when nobody was found. */
  describeAttempt(): string {
    const s = this.stats
    const join = this.join === 'joined' ? '' : `, ${this.join}`
    return `DHT: ${counted(s.lookups, 'lookup')} of topic ${s.topic.slice(0, 16)}… through ${s.bootstrap}${join}, ${counted(s.replies, 'node answer')}, ${counted(s.peersFound, 'peer')} found`
  }

  peers(id: string): LivePeer[] {
    if (id !== this.options.id) return []
    return this.keys.offerable().map((p) => ({
      address: `${DHT_ADDRESS_PREFIX}${p.peerId}`,
      port: 0,
      have: Bitfield.full(this.chunkCount),
      peerId: p.peerId,
      transport: 'noise' as const,
      ...(p.named ? { named: p.named } : {}),
    }))
  }

  waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
    return nextChange(this, ms, signal)
  }

  manifestKnown(chunkCount: number): void {
    this.chunkCount = chunkCount
    this.manifest = true
    this.emit('change')
  }

  handles(peer: PeerAddress): boolean {
    return peer.address.startsWith(DHT_ADDRESS_PREFIX)
  }

  /** How the download reached this peer (for the receipt). */
  describe(key: string): { via: 'dht'; path?: DhtPath } | undefined {
    if (!key.startsWith(DHT_ADDRESS_PREFIX)) return undefined
    const peerId = key.slice(DHT_ADDRESS_PREFIX.length, key.lastIndexOf(':'))
    const path = this.keys.get(peerId)?.path
    return path ? { via: 'dht', path } : { via: 'dht' }
  }

  giveUp(key: string, lacking = false): void {
    if (!key.startsWith(DHT_ADDRESS_PREFIX)) return
    const peerId = key.slice(DHT_ADDRESS_PREFIX.length, key.lastIndexOf(':'))
    if (!this.keys.gaveUp(peerId, lacking)) return
    this.log.info({ peer: peerId, lacking }, 'DHT peer given up; its place goes to another')
    this.emit('change')
  }

  /** A session to this DHT peer: dialled by its key, checked (key, allow-list, swarm proof) within `timeoutMs`. */
  dial(
    peer: PeerAddress,
    secure: SecureOptions | undefined,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<DhtSession> {
    const found = this.keys.get(peer.address.slice(DHT_ADDRESS_PREFIX.length))
    if (!this.node || !found || !secure)
      return Promise.reject(new P2PError('E_CONNECT', `${peer.address} is not a DHT peer we found`))
    signal.throwIfAborted()
    const node = this.node
    // No relay addresses from the lookup: any announcer names them, and every downloader would send to them;
    // the engine finds the peer's own nodes by its key.
    const socket = node.connect(found.key, { keyPair: secure.keyPair })
    const path = (): DhtPath => connectionPath(node, socket) ?? 'direct'
    const session = new DhtSession(
      socket,
      {
        initiator: true,
        // A hole punch takes round trips through DHT nodes: a LAN-sized connect deadline is too short for it.
        handshakeTimeoutMs: Math.max(timeoutMs, MIN_DHT_CONNECT_MS),
        openedTimeoutMs: timeoutMs,
        expectedRemoteKey: found.key,
        allow: secure.allow,
        proofKey: secure.proofKey,
        path,
      },
      `dht:${found.peerId.slice(0, 15)}…`,
    )
    const onAbort = (): void => session.destroy(new P2PError('E_CLOSED', `connecting to ${session.label} abandoned`))
    signal.addEventListener('abort', onAbort, { once: true })
    return session.ready.then(
      () => {
        signal.removeEventListener('abort', onAbort)
        found.path = path()
        this.log.info({ peer: found.peerId, path: found.path }, 'DHT connection')
        // A session that closes without a byte of an answer counts as a failed dial: keys that greet and then
        // stall (live servers a stranger announces by the hundred) would otherwise hold the 64 places for good.
        let answered = false
        session.once('data', () => {
          answered = true
          this.keys.answered(found)
          this.keys.unname(found) // asked first once is enough: a link may name a key that has no such file
        })
        session.once('close', (err?: P2PError) => {
          const broke = err && noSeeder(err, session)
          if (broke) this.failed(found, err.message, broke)
          else if (!answered) this.failed(found, 'session closed without an answer')
        })
        return session
      },
      (err: P2PError) => {
        signal.removeEventListener('abort', onAbort)
        this.failed(found, err.message, noSeeder(err, session))
        // A key that never answers is no protocol violation; the DHT's own failures come as plain errors.
        throw err.code === 'E_CLOSED' && session.remotePublicKey === undefined
          ? new P2PError('E_CONNECT', `cannot reach ${session.label} through the DHT: ${err.message}`)
          : err
      },
    )
  }

  /** A dial (or the session it made) that failed; `noSeeder`: the key is no seeder now (dht-keys.ts). */
  private failed(found: FoundPeer, why: string, noSeeder?: NoSeeder): void {
    const outcome = this.keys.failed(found, noSeeder)
    if (outcome === undefined) return // dropped already
    this.log.info({ peer: found.peerId, failures: found.failures, err: why, noSeeder }, 'DHT dial failed')
    if (outcome === 'dropped') this.emit('change')
    else setTimeout(() => this.emit('change'), outcome).unref()
  }

  /** Lookups every second: no manifest yet, keys found dropped lately, and not for ever. */
  private searching(): boolean {
    if (this.manifest || !this.keys.droppedWithin(NO_SEEDER_FOR_MS)) return false
    return this.searchingLookups++ < MAX_SEARCHING_LOOKUPS
  }

  private lookupSoon(ms: number): void {
    clearTimeout(this.timer)
    if (this.stopped) return
    this.timer = setTimeout(() => {
      this.looking ??= this.lookup().finally(() => {
        this.looking = undefined
        const every = this.options.lookupEveryMs ?? DEFAULT_LOOKUP_EVERY_MS
        // Soon at first (a seeder may announce moments after we start), then every `every`; every second while
        // searching (a topic flooded with dead keys is sampled again and again).
        const searching = this.searching() ? SEARCHING_LOOKUP_EVERY_MS : every
        this.lookupSoon(Math.min(every, searching, FIRST_RETRY_MS * 2 ** Math.min(this.counts.lookups - 1, 5)))
      })
    }, ms)
    this.timer.unref()
  }

  private async lookup(): Promise<void> {
    const node = this.node
    if (!node || this.stopped) return
    this.counts.lookups++
    this.takeNamed()
    const self = this.options.trust.identity.keyPair.publicKey
    try {
      for await (const reply of node.lookup(this.topic)) {
        this.counts.replies++
        for (const peer of reply.peers ?? []) {
          if (!Buffer.isBuffer(peer.publicKey) || peer.publicKey.byteLength !== 32 || peer.publicKey.equals(self))
            continue
          // A key an allow-list refuses is never dialled, so it would never leave: not taken at all.
          if (this.options.trust.allow && !this.options.trust.allow.allows(peer.publicKey)) {
            this.keys.refused()
            continue
          }
          const peerId = formatPeerId(peer.publicKey)
          if (!this.keys.take(peer.publicKey, peerId)) continue
          this.counts.peersFound++
          this.log.info({ peer: peerId }, 'peer found on the DHT')
          this.emit('change')
        }
        if (this.stopped) return
      }
    } catch (err) {
      if (!this.stopped) this.log.warn({ err: (err as Error).message }, 'DHT lookup failed')
    }
  }
}
