import { LARGE_BURST_GAP_MS } from './announcer-options.js'

/**
 * When the announcer's bursts go (announcer.ts says what they carry): one at
 * a time, a burst asked for while one is being sent following it (the store
 * may have changed meanwhile). Bursts caused by store changes are at least
 * `minGapMs` apart, and at least LARGE_BURST_GAP_MS for a store whose whole
 * announcement takes more than one datagram (each burst lists the whole
 * store: store.ts), so a busy store cannot make it flood the LAN or a core.
 * A small store's changes go out four times a second: in a swarm, what a
 * download just got is what the others should ask it for instead of the
 * seeder (docs/benchmarks.md: at N = 4 the seeder sent 1.22 × the file
 * instead of 1.33 ×, medians).
 */

export interface BurstPacerOptions {
  /** Sends one burst; never rejects (the announcer logs a failed one). */
  burst: (reason: string) => Promise<void>
  /** Whether bursts may go now: the announcer's sockets are open. */
  open: () => boolean
  /** The least time from the last burst's start to a burst for a change, for a store announced in one datagram. */
  minGapMs: number
  /** The store's whole announcement takes more than one datagram (as of the last burst). */
  largeStore: () => boolean
}

export class BurstPacer {
  private pending: NodeJS.Timeout | undefined
  private lastBurst = 0
  private stopping = false
  private running: Promise<void> | undefined
  private again = false

  constructor(private readonly options: BurstPacerOptions) {}

  /** The burst being sent, if one is. */
  get bursting(): Promise<void> | undefined {
    return this.running
  }

  /** Announce soon: now if the last burst was long enough ago, else as soon as allowed. */
  schedule(reason: string, delayMs = 0): void {
    if (this.pending || !this.options.open() || this.stopping) return
    const wait = Math.max(delayMs, this.lastBurst + this.burstGap() - Date.now())
    this.pending = setTimeout(() => {
      this.pending = undefined
      // Decided again now: a burst may have started meanwhile, or grown past one datagram.
      if (this.running) return void this.running.then(() => this.schedule(reason))
      if (this.lastBurst + this.burstGap() > Date.now()) return this.schedule(reason)
      void this.burst(reason)
    }, wait)
  }

  /** Send one burst; a burst asked for while one is being sent follows it (the store may have changed meanwhile). */
  burst(reason: string): Promise<void> {
    if (!this.options.open() || this.stopping) return Promise.resolve()
    if (this.running) {
      this.again = true
      return this.running
    }
    this.lastBurst = Date.now()
    this.running = this.options.burst(reason).finally(() => {
      this.running = undefined
      if (this.again) {
        this.again = false
        this.schedule(`${reason} (again)`) // the store may have changed during the scan: soon, but within the gap
      }
    })
    return this.running
  }

  /** No burst starts from now on (none may follow the goodbye); the one being sent, if any, still ends. */
  stop(): void {
    this.stopping = true
    clearTimeout(this.pending)
  }

  /** The least time from the last burst's start to a burst for a store change. */
  private burstGap(): number {
    const gap = this.options.minGapMs
    return this.options.largeStore() ? Math.max(gap, LARGE_BURST_GAP_MS) : gap
  }
}
