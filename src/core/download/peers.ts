import { EventEmitter } from 'node:events'
import { sameClaim, summarizeClaims } from '../discovery/claims.js'
import {
  createListener,
  type DiscoveryListener,
  type DiscoveryListenerOptions,
  type KnownFile,
  type PeerSource,
} from '../discovery/listener.js'
import { type ClaimFilter, wantedClaims } from '../discovery/wanted-claims.js'
import { type Collaborators, componentLog, type Logger } from '../log.js'
import { peerKey } from '../pool.js'
import { normalizePeerId } from '../trust/peer-id.js'
import { DictionaryFileClaims } from './dictionary-file-claims.js'
import type { LivePeer, PeerFinder } from './job.js'
import { nextChange } from './next-change.js'

/**
 * Everything a downloader knows about who has what: its own discovery
 * listener (so it works without p2p-listen and sees peers join and leave
 * during the download) merged with the content dictionary file that a
 * running p2p-listen keeps. The file is re-read when it changes, at most
 * once a second and with at most a tenth of the main thread (a parse that
 * took 200 ms waits 1.8 s before the next look), and only while it is at most
 * DOWNLOAD_DICTIONARY_MAX_BYTES: a LAN's flood of large have-sets grew one to
 * 25 MB, whose every re-read held this process's main thread for ~140 ms and
 * took its memory from 60 to 160–260 MB (docs/reliability.md case 26); the
 * download hears the LAN itself meanwhile. Its entries count only while their
 * lastSeen is within staleAfter.
 *
 * Everything here is a claim by one peer: an id is listed under every name a
 * live peer gives it, so a name two ids claim is ambiguous, and every peer
 * claiming an id is offered for it whatever size or chunk count it claims
 * until the manifest, checked against the id, decides (`knowChunkCount`:
 * from then on the dictionary refuses claims of another count; the
 * scheduler uses only peers whose have-set has the manifest's chunk count).
 */
export interface PeerDirectoryOptions extends Omit<DiscoveryListenerOptions, 'log'> {
  /** The content dictionary file a running p2p-listen keeps (re-read when it changes); none: live discovery only. */
  dictionaryPath?: string
  /**
   * An allow-list's peers: by name, those whose claims count (wanted-claims.ts); by id or name, the only peer IDs
   * remembered as heard for an address (dictionary.ts). Default: everyone's.
   */
  heeded?: (peer: string) => boolean
}

/** A peer directory with its own discovery listener (both idle until `start()`). */
export function createPeerDirectory(options: PeerDirectoryOptions, collaborators: Collaborators = {}): PeerDirectory {
  // What it asks for is what it keeps, heard or read from the file: claims about other files cost it nothing.
  const unlisted = new UnlistedNamers()
  const keep =
    options.keep ??
    wantedClaims(options.want, options.heeded, (peer) => {
      // As a peer ID is written, once whatever its case or dashes (one key in 16 spellings filled the list), and
      // only a valid one (an attacker pass); our own announcements come back to us: we are no peer to list.
      const id = canonicalPeerId(peer)
      if (id !== undefined && id !== options.selfPeerId) unlisted.add(id)
    })
  const listener = createListener({ ...options, ...(keep ? { keep } : {}), claimsOnlyAdd: true }, collaborators)
  return new PeerDirectory(
    listener,
    options.dictionaryPath,
    options.staleAfterMs,
    componentLog(collaborators, 'peers'),
    options.selfPeerId,
    keep,
    unlisted,
  )
}

/** The unlisted peer IDs a download by name remembers as having claimed the name (a stranger may send thousands). */
const MAX_UNLISTED_NAMERS = 16

/** Peer IDs off the allow-list heard claiming the wanted name: the first MAX_UNLISTED_NAMERS, and whether others came. */
class UnlistedNamers {
  readonly peers = new Set<string>()
  more = false

  add(peer: string): void {
    if (this.peers.has(peer)) return
    if (this.peers.size < MAX_UNLISTED_NAMERS) this.peers.add(peer)
    else this.more = true
  }
}

/** The least time from one look at the dictionary file to the next. */
const RELOAD_EVERY_MS = 1000

export class PeerDirectory extends EventEmitter implements PeerFinder {
  /** The claims of the content dictionary file a running p2p-listen keeps. */
  private readonly file: DictionaryFileClaims
  private poller: NodeJS.Timeout | undefined

  constructor(
    private readonly listener: DiscoveryListener,
    dictionaryPath: string | undefined,
    private readonly staleAfterMs: number,
    log: Logger,
    /** Our own store's peer id: our own announcements echoed back are not a peer. */
    private readonly selfPeerId?: string,
    /** The claims kept from the file, as the listener keeps them (wanted-claims.ts). */
    keep?: ClaimFilter,
    private readonly unlisted = new UnlistedNamers(),
  ) {
    super()
    this.setMaxListeners(0)
    listener.on('change', () => this.emit('change'))
    this.file = new DictionaryFileClaims(
      dictionaryPath,
      () => listener.clock(),
      keep,
      log,
      () => this.emit('change'),
    )
  }

  /** Whether a peer is heard over IPv6 alone (our own announcements aside): our bursts for changes must reach its group. */
  hearsIpv6OnlyPeer(): boolean {
    const { dictionary, vouched } = this.listener
    return dictionary.hearsIpv6OnlyPeer(this.selfPeerId) || (vouched?.hearsIpv6OnlyPeer(this.selfPeerId) ?? false)
  }

  /** When our discovery query went out (performance.now()). */
  queriedAt = -Infinity

  async start(): Promise<void> {
    await this.listener.start()
    this.listener.query()
    this.queriedAt = performance.now()
    await this.file.reload()
    this.poller = setInterval(() => void this.file.reload(), RELOAD_EVERY_MS).unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.poller)
    await this.listener.stop()
  }

  /** Every known file id with its live claims, the listener's and the file's merged (the listener's win for a peer both know). */
  files(): KnownFile[] {
    return [...this.liveClaims()].map(([id, peers]) => summarizeClaims(id, peers))
  }

  /** Every id some live peer claims under this exact (NFC) name (an old dictionary file's leftovers are not a choice): more than one means the name is ambiguous. */
  named(name: string): KnownFile[] {
    const out: KnownFile[] = []
    for (const [id, peers] of this.liveClaims())
      if (peers.some((p) => p.name === name)) out.push(summarizeClaims(id, peers, name))
    return out
  }

  /**
   * The ids `named` gives, without summarizing any file's claims: what a wait for a name looks at on every
   * change. Under a flood of fresh fake peers (2,000 datagrams a second) `named` on each one, summarizing up to
   * 256 claims of the file each time, was most of a download's CPU while the name was decided (attacker pass).
   */
  namedIds(name: string): string[] {
    const alive = this.liveness()
    const live = (p: PeerSource): boolean => p.name === name && alive(p)
    const ids = new Set<string>()
    for (const dictionary of [this.listener.dictionary, this.listener.vouched])
      for (const [id, claims] of dictionary?.claims.entries() ?? [])
        for (const p of claims.values())
          if (live(p)) {
            ids.add(id)
            break
          }
    // As liveClaims: a peer the listener heard (or an answer vouched for) is its word, not the file's.
    for (const f of this.file.claims.values()) {
      const heard = this.listener.dictionary.claims.get(f.id)
      const vouched = this.listener.vouched?.claims.get(f.id)
      if (f.peers.some((p) => live(p) && !heard?.has(peerKey(p)) && !vouched?.has(peerKey(p)))) ids.add(f.id)
    }
    return [...ids]
  }

  /**
   * By name with an allow-list: peer IDs off it heard claiming the name since this started (the first
   * MAX_UNLISTED_NAMERS; `more`: others came after), not read from the file. A download that found the name
   * nowhere else says so (it said "no peer announced" of a seeder that had).
   */
  unlistedNamers(): { peers: string[]; more: boolean } {
    return { peers: [...this.unlisted.peers], more: this.unlisted.more }
  }

  /** Every live peer claiming this id, whatever name, size or chunk count it gives. */
  peers(id: string): LivePeer[] {
    return (this.liveClaims(id).get(id) ?? []).map((p) => ({
      address: p.address,
      port: p.port,
      have: p.have,
      peerId: p.peer,
      ...(p.heard ? { peerIds: p.heard } : {}),
      ...(p.transport ? { transport: p.transport } : {}),
    }))
  }

  /** Whether a claim counts now: heard within the stale window, and not our own. */
  private liveness(): (p: PeerSource) => boolean {
    const cutoff = this.listener.clock() - this.staleAfterMs
    return (p) => p.lastSeen >= cutoff && p.peer !== this.selfPeerId
  }

  /** Live claims by id (of one id only, when given: the downloader asks ten times a second). */
  private liveClaims(only?: string): Map<string, PeerSource[]> {
    const byId = new Map<string, Map<string, PeerSource>>()
    const alive = this.liveness()
    // The listener's word first (its have-sets are the freshest), then answers vouched for, kept where a flood
    // forging their address cannot push them out: where one disagrees with what the listener heard at its key (a
    // stranger may forge that key's claim too), the vouched one counts. Then the file's.
    const vouched = this.listener.vouched
    const sources: Array<[KnownFile | undefined, boolean]> =
      only === undefined
        ? [
            ...this.listener.files().map((f): [KnownFile, boolean] => [f, false]),
            ...(vouched?.files() ?? []).map((f): [KnownFile, boolean] => [f, true]),
            ...[...this.file.claims.values()].map((f): [KnownFile, boolean] => [f, false]),
          ]
        : [
            [this.listener.file(only), false],
            [vouched?.file(only), true],
            [this.file.claims.get(only), false],
          ]
    for (const [f, isVouched] of sources) {
      if (!f) continue
      let peers = byId.get(f.id)
      if (!peers) {
        peers = new Map()
        byId.set(f.id, peers)
      }
      for (const p of f.peers) {
        if (!alive(p)) continue
        const key = peerKey(p)
        const seen = peers.get(key)
        if (!seen || (isVouched && !sameClaim(seen, p))) peers.set(key, p)
      }
    }
    const out = new Map<string, PeerSource[]>()
    for (const [id, peers] of byId) if (peers.size > 0) out.set(id, [...peers.values()])
    return out
  }

  /**
   * From here on the dictionary refuses claims about `id` of another chunk count (dictionary.ts `settle`), and
   * the LAN is asked for `id` again: whatever a stranger said of a peer before the manifest came, the peer's own
   * answer now adds what it holds.
   */
  knowChunkCount(id: string, chunkCount: number): void {
    this.listener.dictionary.settle(id, chunkCount)
    this.listener.vouched?.settle(id, chunkCount)
    this.listener.query({ id })
  }

  /** Whether any peer was heard, its claims wanted or not (a download that heard only other files was not alone). */
  heardAnyone(): boolean {
    return this.listener.stats.unwanted > 0 || this.files().length > 0
  }

  /**
   * What was heard of private swarms and dropped: sealed datagrams while we have no secret, and sealed ones our
   * secret does not open (another swarm, or a mistyped secret). A download that found nothing says so.
   */
  privateSwarmsHeard(): { sealed: number; otherSecret: number } {
    const dropped = this.listener.stats.droppedByReason
    return { sealed: dropped.sealed ?? 0, otherSecret: dropped.auth ?? 0 }
  }

  /** Resolves on the next change, after `ms`, or when `signal` aborts (next-change.ts). */
  waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
    return nextChange(this, ms, signal)
  }
}

/** A peer ID as formatPeerId writes it, or undefined when the text is none (an older peer's store id, a typo). */
function canonicalPeerId(text: string): string | undefined {
  try {
    return normalizePeerId(text)
  } catch {
    return undefined
  }
}
