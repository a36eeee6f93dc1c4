import { hasCode, P2PError } from '../errors.js'
import { type ItemManifest, parseItemManifest, planOf } from '../item.js'
import { manifestId } from '../manifest.js'
import { peerKey } from '../pool.js'
import { addressKey } from '../transfer/admission.js'
import { nextCandidates } from './manifest-candidates.js'
import {
  ADDRESS_RETRY_MS,
  arrivingAtRate,
  type Candidate,
  FIRST_ASKED,
  HEDGE_EVERY_MS,
  MAX_ASKED,
  type ManifestFetchOptions,
  type ManifestSource,
  MIN_RATE,
  type RaceAttempt,
  RETRY_AFTER_MS,
  SLOW_AFTER_MS,
} from './manifest-fetch-options.js'
import { RaceFailures } from './manifest-race-lost.js'
import { RaceView } from './race-view.js'

/**
 * The manifest for `id`: from our own store when a previous run left it there,
 * otherwise from the first peer that returns bytes hashing to the id. Peers
 * are asked address by address (manifest-candidates.ts: an address announcing
 * many ports is asked no more often than one announcing one), in a random
 * order within an address, those that have not failed yet first:
 * FIRST_ASKED at once, then one more every HEDGE_EVERY_MS while no valid
 * manifest has come, and another at once for each one that fails, so a
 * silent peer costs a fraction of a second, never its request timeout. The
 * first valid manifest wins; the requests still out are abandoned and their
 * connections closed. A peer that returns anything else is recorded as a
 * liar (the caller bans it). Waits for peers until `deadline`.
 */
export async function fetchManifest<P extends Candidate>(options: ManifestFetchOptions<P>): Promise<ManifestSource<P>> {
  const local = await options.store.get(options.id)
  if (local) return { bytes: local.manifestBytes, manifest: local.manifest, from: undefined }
  return new ManifestRace(options).run()
}

class ManifestRace<P extends Candidate> {
  private readonly attempts = new Map<string, RaceAttempt>()
  /** When each candidate may be asked (again). */
  private readonly askAt = new Map<string, number>()
  /** How often each candidate failed or was abandoned: within an address, fresh candidates are asked first. */
  private readonly misses = new Map<string, number>()
  /** How often each address (addressKey) was asked: addresses take turns (manifest-candidates.ts). */
  private readonly turns = new Map<string, number>()
  /**
   * When each address (addressKey) may be asked again after one of its candidates failed: a stranger's fresh
   * port in every datagram is a fresh candidate each time, and the race asked them as fast as they refused.
   */
  private readonly addressAskAt = new Map<string, number>()
  private readonly started: number
  private nextHedgeAt: number
  /** Candidates that may be asked now: FIRST_ASKED, one per hedge interval, one per failure. */
  private credits = FIRST_ASKED
  private winner: ManifestSource<P> | undefined
  private readonly failures = new RaceFailures()
  /**
   * Bytes that hash to the id were refused: the id's manifest itself is bad, and no peer can send another. The
   * race ends with it (it went on asking every peer, 8 at once, and parsing each copy again: an attacker's
   * 32 MiB manifest from 16 peers cost a download 940 MB and 24 CPU-s).
   */
  private refused: P2PError | undefined
  private asked = 0
  private readonly view: RaceView<P>
  private wake: () => void = () => undefined
  private peerWait: Promise<void> | undefined

  constructor(private readonly options: ManifestFetchOptions<P>) {
    this.started = options.now()
    this.nextHedgeAt = this.started + HEDGE_EVERY_MS
    this.view = new RaceView(options.peers)
  }

  async run(): Promise<ManifestSource<P>> {
    try {
      for (;;) {
        this.options.signal.throwIfAborted()
        if (this.winner) return this.winner
        if (this.refused) throw this.refused
        const left = this.options.deadline - this.options.now()
        if ((left <= 0 && !this.arriving()) || this.refusedOnly())
          throw this.failures.lost(this.options.id, this.options.passedOver?.(), this.options.refusedUs)
        // Past the deadline nobody new is asked: only a manifest still arriving is waited for.
        const waiting = left > 0 && this.launch()
        // Wake for: an answer, the next hedge (when a candidate waits for one), new peers, the deadline, an abort.
        const nextView = this.view.nextReadAt()
        const nextCheck = waiting
          ? Math.min(this.nextHedgeAt, this.nextSlowCheck(), nextView) - this.options.now()
          : Math.min(250, this.nextSlowCheck() - this.options.now(), nextView - this.options.now())
        await this.pause(Math.max(1, Math.min(left > 0 ? left : 250, nextCheck)))
      }
    } finally {
      this.abandonAll()
    }
  }

  /**
   * Every peer heard of refused our key, and none other came since (refused-us.ts `settled`): the race ends now,
   * not at the deadline. A refused peer is no candidate any more (trusted-peers.ts), so any other peer, one that
   * failed or said "not found" included, keeps the race going.
   */
  private refusedOnly(): boolean {
    return (
      this.options.refusedUs?.settled() === true &&
      this.attempts.size === 0 &&
      this.view.current(this.options.now()).length === 0
    )
  }

  /** Ask candidates as the hedging rule allows; true when some wait for the next hedge. */
  private launch(): boolean {
    const now = this.options.now()
    for (; now >= this.nextHedgeAt; this.nextHedgeAt += HEDGE_EVERY_MS)
      this.credits = Math.min(MAX_ASKED, this.credits + 1)
    const candidates = this.view.current(now).filter((p) => {
      const { key, address } = this.view.keysOf(p)
      if (this.attempts.has(key) || (this.askAt.get(key) ?? 0) > now) return false
      return p.named === true || (this.addressAskAt.get(address) ?? 0) <= now
    })
    if (candidates.length > 0 && this.attempts.size >= MAX_ASKED) this.makeRoom(now)
    const chosen = nextCandidates(candidates, Math.min(MAX_ASKED - this.attempts.size, this.credits), {
      addressOf: (p) => this.view.keysOf(p).address,
      turnsOf: (address) => this.turns.get(address) ?? 0,
      missesOf: (p) => this.misses.get(this.view.keysOf(p).key) ?? 0,
      named: (p) => p.named === true,
    })
    for (const peer of chosen) {
      this.credits--
      this.ask(peer)
    }
    return candidates.length > chosen.length
  }

  /** A candidate failed or was abandoned: asked again later, after those that did not; another may be asked at once. */
  private missed(key: string): void {
    this.misses.set(key, (this.misses.get(key) ?? 0) + 1)
    this.askAt.set(key, this.options.now() + RETRY_AFTER_MS)
    this.credits = Math.min(MAX_ASKED, this.credits + 1)
  }

  /** Abandon the attempts that are too slow to deserve their slot (see MIN_RATE). */
  private makeRoom(now: number): void {
    for (const [key, attempt] of this.attempts) {
      if (attempt.named) continue
      const elapsed = now - attempt.askedAt
      const received = (attempt.lease?.connection.bytesReceived ?? attempt.bytesAtAsk) - attempt.bytesAtAsk
      if (elapsed < SLOW_AFTER_MS || received >= (MIN_RATE * elapsed) / 1000) continue
      this.options.log.debug({ peer: key, elapsed, received }, 'manifest request too slow; asking another peer')
      this.abandon(attempt)
      this.attempts.delete(key) // its slot is free now; its own cleanup comes later
      this.missed(key)
    }
  }

  /** Some attempt is receiving its manifest at MIN_RATE or faster (manifest-fetch-options.ts). */
  private arriving(): boolean {
    return arrivingAtRate(this.attempts.values(), this.options.now())
  }

  /** When the oldest attempt may be judged too slow. */
  private nextSlowCheck(): number {
    let at = Infinity
    for (const attempt of this.attempts.values()) at = Math.min(at, attempt.askedAt + SLOW_AFTER_MS)
    return Math.max(at, this.options.now() + 50)
  }

  private ask(peer: P): void {
    const key = peerKey(peer)
    const attempt: RaceAttempt = {
      abandon: new AbortController(),
      named: peer.named === true,
      lease: undefined,
      askedAt: this.options.now(),
      leasedAt: undefined,
      bytesAtAsk: 0,
    }
    this.attempts.set(key, attempt)
    this.asked++
    const address = addressKey(peer.address)
    this.turns.set(address, (this.turns.get(address) ?? 0) + 1)
    void (async () => {
      try {
        attempt.lease = await this.options.pool.acquire(
          peer,
          AbortSignal.any([this.options.signal, attempt.abandon.signal]),
        )
        attempt.bytesAtAsk = attempt.lease.connection.bytesReceived
        attempt.leasedAt = this.options.now()
        const bytes = await attempt.lease.connection.fetchManifest(this.options.id, this.options.maxManifestBytes)
        if (manifestId(bytes) !== this.options.id) {
          this.options.onLiar(key, 'sent a manifest that does not hash to the id')
          return
        }
        if (this.winner || this.refused) return
        let manifest: ItemManifest
        try {
          manifest = parseItemManifest(bytes, {
            expectedId: this.options.id,
            maxBytes: this.options.maxManifestBytes,
            maxEntries: this.options.maxEntries,
          })
        } catch (err) {
          if (hasCode(err, 'E_BAD_MANIFEST'))
            this.refused = new P2PError(
              'E_BAD_MANIFEST',
              `the manifest of ${this.options.id.slice(0, 12)}… is refused (no peer can send another for this id): ${err.message}`,
            )
          throw err
        }
        if (this.winner) return
        this.winner = { bytes, manifest, from: key, peer }
        this.options.log.info(
          {
            peer: key,
            name: manifest.name,
            size: planOf(manifest).size,
            ms: this.options.now() - this.started,
            asked: this.asked,
          },
          'manifest received',
        )
      } catch (err) {
        if (attempt.abandon.signal.aborted || this.options.signal.aborted) return
        if (hasCode(err, 'E_BAD_MANIFEST')) this.options.onLiar(key, err.message)
        if (hasCode(err, 'E_NOT_FOUND')) this.options.onLacking?.(key)
        const failure = hasCode(err) ? err : new P2PError('E_INTERNAL', String(err))
        this.failures.record(failure, peer)
        this.options.log.debug({ peer: key, code: failure.code, err: failure.message }, 'manifest fetch failed')
      } finally {
        attempt.lease?.release()
        if (this.attempts.get(key) === attempt) {
          // not abandoned
          this.attempts.delete(key)
          if (this.winner?.from !== key) {
            this.missed(key)
            this.addressAskAt.set(address, this.options.now() + ADDRESS_RETRY_MS)
          }
        }
        this.view.stale() // a liar banned, a peer refused: the view may have lost it
        this.wake()
      }
    })()
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let settled = false
      const done = (): void => {
        if (settled) return // a wait for the peer view outlives the pause that started it
        settled = true
        clearTimeout(timer)
        this.options.signal.removeEventListener('abort', done)
        if (this.wake === done) this.wake = () => undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.wake = done
      this.options.signal.addEventListener('abort', done, { once: true })
      // One wait for the peer view at a time (each one holds a timer until it fires).
      this.peerWait ??= this.options.waitForPeers(250).finally(() => {
        this.peerWait = undefined
      })
      void this.peerWait.then(() => {
        this.view.stale()
        // Changes within the gap wake the race once, when it is over (a flood's thousands a second did each).
        const gap = this.view.nextReadAt() - this.options.now()
        if (gap <= 0) done()
        else setTimeout(done, gap)
      })
    })
  }

  /** Requests still out after the race: their connections are closed (nothing else of theirs is wanted). */
  private abandonAll(): void {
    for (const attempt of this.attempts.values()) this.abandon(attempt)
  }

  private abandon(attempt: RaceAttempt): void {
    attempt.abandon.abort(new P2PError('E_CLOSED', 'manifest request abandoned'))
    attempt.lease?.connection.close()
  }
}
