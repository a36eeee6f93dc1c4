import type HyperDHT from 'hyperdht'
import { hasCode, P2PError } from '../errors.js'
import { type Collaborators, componentLog, type Logger, silentLogger } from '../log.js'
import { formatPeerId } from '../trust/peer-id.js'
import type { SwarmKeys } from '../trust/swarm-secret.js'
import { unlessAborted } from '../unless-aborted.js'
import { connectionPath, createDhtNode, type DhtSettings } from './node.js'
import { type DhtPath, DhtSession } from './session.js'
import { topicOf } from './topic.js'

/**
 * `p2p-listen --dht --id ID…` (docs/protocol.md §6.5): which peers the DHT
 * offers for each file, and how each is reached. A round looks every topic
 * up and dials every peer found as a download would (the key dialled must
 * answer, then the greeting or the swarm proof), notes whether the engine
 * connected directly or punched a hole, and closes the connection without
 * asking for anything. It dials with a key pair of its own, made for the
 * process: a listener is nobody's peer, and seeders cannot link it to a
 * download. Bounded: at most MAX_SURVEY_IDS files, MAX_DHT_PEERS peers each,
 * one round at a time, MAX_CONCURRENT_DIALS dials at once.
 */

export const MAX_SURVEY_IDS = 32
export const MAX_SURVEY_PEERS = 64
export const MAX_CONCURRENT_DIALS = 8

export interface SurveyedPeer {
  peerId: string
  /** Reached: how. */
  path?: DhtPath
  reached: boolean
  /** Not reached: why (an error code and our one-line message). */
  code?: string
  error?: string
}

export interface SurveyedFile {
  id: string
  topic: string
  /** DHT nodes that answered this round's lookup. */
  replies: number
  peers: SurveyedPeer[]
}

export interface DhtSurveyOptions {
  ids: readonly string[]
  dht: DhtSettings
  swarm?: SwarmKeys | undefined
  /** Per dial, hole punch included. */
  connectTimeoutMs: number
  log?: Logger
}

export function createDhtSurvey(options: Omit<DhtSurveyOptions, 'log'>, collaborators: Collaborators = {}): DhtSurvey {
  return new DhtSurvey({ ...options, log: componentLog(collaborators, 'dht-survey') })
}

export class DhtSurvey {
  private node: HyperDHT | undefined
  private readonly log: Logger
  private stopped = false
  private stopping: Promise<void> | undefined
  /** A topic flooded with keys costs dials, each up to the connect deadline: a few at a time, whatever was found. */
  private readonly dials = limiter(MAX_CONCURRENT_DIALS)

  constructor(private readonly options: DhtSurveyOptions) {
    if (options.ids.length === 0) throw new P2PError('E_USAGE', 'the DHT is looked up by file: give --id ID')
    if (options.ids.length > MAX_SURVEY_IDS)
      throw new P2PError('E_USAGE', `--id names ${options.ids.length} files, at most ${MAX_SURVEY_IDS}`)
    for (const id of options.ids) topicOf(id) // E_USAGE for what is not an id
    this.log = options.log ?? silentLogger()
  }

  get ids(): readonly string[] {
    return this.options.ids
  }

  /** Joins the DHT: false when `signal` aborted first (seconds, longer when no bootstrap node answers); stop() ends it. */
  async start(signal?: AbortSignal): Promise<boolean> {
    const node = await createDhtNode(this.options.dht)
    this.node = node
    // Its first dials wait for the routing table (a dial from a node still bootstrapping may time out).
    const joined = node.ready().then(() => node.fullyBootstrapped())
    return (await unlessAborted(joined, signal)) !== undefined
  }

  /** Idempotent: the dials under way fail with the node. */
  stop(): Promise<void> {
    this.stopped = true
    this.stopping ??= this.node ? this.node.destroy({ force: true }).catch(() => undefined) : Promise.resolve()
    return this.stopping
  }

  /** One lookup of every topic and one dial of every peer found; the files in the order given. */
  async round(): Promise<SurveyedFile[]> {
    return Promise.all(this.options.ids.map((id) => this.survey(id)))
  }

  private async survey(id: string): Promise<SurveyedFile> {
    const topic = topicOf(id, this.options.swarm?.topicKey)
    const found = new Map<string, Buffer>()
    let replies = 0
    const node = this.node
    if (node && !this.stopped)
      try {
        for await (const reply of node.lookup(topic)) {
          replies++
          for (const peer of reply.peers ?? []) {
            if (!Buffer.isBuffer(peer.publicKey) || peer.publicKey.byteLength !== 32) continue
            if (found.size >= MAX_SURVEY_PEERS) break
            const peerId = formatPeerId(peer.publicKey)
            if (!found.has(peerId)) found.set(peerId, Buffer.from(peer.publicKey))
          }
          if (this.stopped) break
        }
      } catch (err) {
        this.log.warn({ id, err: (err as Error).message }, 'DHT lookup failed')
      }
    const peers = await Promise.all([...found].map(([peerId, key]) => this.dials.run(() => this.dial(peerId, key))))
    return { id, topic: topic.toString('hex'), replies, peers }
  }

  /**
   * By key alone, as a download dials (dht-peers.ts): the relay addresses a lookup gives are whatever the announcer
   * named, and every listener would send to them.
   */
  private async dial(peerId: string, key: Buffer): Promise<SurveyedPeer> {
    const node = this.node
    if (!node || this.stopped) return { peerId, reached: false, code: 'E_CLOSED', error: 'stopped' }
    const socket = node.connect(key)
    const session = new DhtSession(
      socket,
      {
        initiator: true,
        handshakeTimeoutMs: this.options.connectTimeoutMs,
        expectedRemoteKey: key,
        proofKey: this.options.swarm?.proofKey,
      },
      `dht:${peerId.slice(0, 15)}…`,
    )
    try {
      await session.ready
      const path = connectionPath(node, socket) ?? 'direct'
      this.log.info({ peer: peerId, path }, 'DHT peer reached')
      return { peerId, path, reached: true }
    } catch (err) {
      const e = hasCode(err) ? err : new P2PError('E_CONNECT', String(err))
      this.log.info({ peer: peerId, code: e.code, err: e.message }, 'DHT peer not reached')
      return { peerId, reached: false, code: e.code, error: e.message }
    } finally {
      session.destroy()
    }
  }
}

/** Runs at most `n` of the tasks given at once, the others in the order given. */
function limiter(n: number): { run<T>(task: () => Promise<T>): Promise<T> } {
  let running = 0
  const waiting: Array<() => void> = []
  return {
    async run<T>(task: () => Promise<T>): Promise<T> {
      if (running < n) running++
      else await new Promise<void>((resolve) => waiting.push(resolve)) // a finishing task hands its slot over
      try {
        return await task()
      } finally {
        const next = waiting.shift()
        if (next) next()
        else running--
      }
    },
  }
}
