import { EventEmitter } from 'node:events'
import { stat } from 'node:fs/promises'
import { Bitfield } from '../bitfield.js'
import { type DiscoveryListener, type KnownFile } from '../discovery/listener.js'
import { readDictionaryFile } from '../discovery/dictionary.js'
import type { Logger } from '../log.js'
import { peerKey } from '../pool.js'
import type { LivePeer } from './downloader.js'

/**
 * Everything a downloader knows about who has what: its own discovery
 * listener (so it works without p2p-listen and sees peers join and leave
 * during the download) merged with the content dictionary file that a
 * running p2p-listen keeps. The file is re-read when it changes; its
 * entries count only while their lastSeen is within staleAfter.
 */
export class PeerDirectory extends EventEmitter {
  private fromFile: KnownFile[] = []
  private fileMtime = 0
  private poller: NodeJS.Timeout | undefined

  constructor(
    private readonly listener: DiscoveryListener,
    private readonly dictionaryPath: string,
    private readonly staleAfterMs: number,
    private readonly log: Logger,
    /** Our own store's peer id: our own announcements echoed back are not a peer. */
    private readonly selfPeerId?: string,
  ) {
    super()
    this.setMaxListeners(0)
    listener.on('change', () => this.emit('change'))
  }

  /** When our discovery query went out (performance.now()). */
  queriedAt = -Infinity

  async start(): Promise<void> {
    await this.listener.start()
    this.listener.query()
    this.queriedAt = performance.now()
    await this.reloadFile()
    this.poller = setInterval(() => void this.reloadFile(), 1000).unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.poller)
    await this.listener.stop()
  }

  /** Every known file, live entries merged by id (the listener's view wins for a peer both know). */
  files(): KnownFile[] {
    const byId = new Map<string, KnownFile>()
    const cutoff = this.listener.clock() - this.staleAfterMs
    for (const f of [...this.listener.files(), ...this.fromFile]) {
      const known = byId.get(f.id)
      const live = f.peers.filter((p) => p.lastSeen >= cutoff && p.peer !== this.selfPeerId)
      if (!known) {
        byId.set(f.id, { ...f, peers: live })
        continue
      }
      const seen = new Set(known.peers.map((p) => peerKey(p)))
      known.peers.push(...live.filter((p) => !seen.has(peerKey(p))))
    }
    return [...byId.values()]
  }

  /** Files with this exact (NFC) name that a live peer offers (an old dictionary file's leftovers are not a choice). */
  named(name: string): KnownFile[] {
    return this.files().filter((f) => f.name === name && f.peers.length > 0)
  }

  peers(id: string): LivePeer[] {
    const file = this.files().find((f) => f.id === id)
    return (file?.peers ?? []).map((p) => ({ address: p.address, port: p.port, have: p.have }))
  }

  /**
   * Resolves on the next change, after `ms`, or when `signal` aborts. After a
   * long task the event loop runs overdue timers before it reads the sockets,
   * so a timeout is not taken as "nothing came" until one poll phase has read
   * the datagrams that arrived meanwhile.
   */
  waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let polled: NodeJS.Immediate | undefined
      const done = (): void => {
        clearTimeout(timer)
        clearImmediate(polled)
        this.off('change', done)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(() => { polled = setImmediate(done) }, Math.max(0, ms))
      this.on('change', done)
      signal?.addEventListener('abort', done, { once: true })
      if (signal?.aborted) done()
    })
  }

  private async reloadFile(): Promise<void> {
    try {
      const st = await stat(this.dictionaryPath)
      if (st.mtimeMs === this.fileMtime) return
      this.fileMtime = st.mtimeMs
      const snapshot = await readDictionaryFile(this.dictionaryPath)
      this.fromFile = Object.entries(snapshot.files).map(([id, f]) => ({
        id, name: f.name, size: f.size, chunks: f.chunks,
        peers: f.peers.map((p) => ({
          // The file's wall-clock times, moved onto the listener's monotonic clock.
          peer: p.peer, address: p.address, port: p.port, lastSeen: this.listener.clock() - (Date.now() - Date.parse(p.lastSeen)),
          have: p.have === 'all' ? Bitfield.full(f.chunks) : Bitfield.fromBase64(f.chunks, p.have),
        })),
      }))
      this.emit('change')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.debug({ err: (err as Error).message }, 'content dictionary unreadable; using live discovery only')
    }
  }
}
