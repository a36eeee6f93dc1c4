/**
 * Many asks, few runs: each run (typically replacing a small file with the
 * state of the moment) answers every ask made before it started. One run at
 * a time; the next starts no sooner than `gapMs(cpuMs)` after the previous
 * one ended, where `cpuMs` is that run's synchronous part (so a writer whose
 * snapshot is costly can space its runs by their CPU, not only by a fixed
 * time). Every ask is followed by a run that starts after it, unless
 * `stop()` came first.
 */
export class Coalescer {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private pending = false
  private stopped = false
  private readyAt = Number.NEGATIVE_INFINITY

  constructor(
    /** The work; its failures go to `onError`, never to an ask. */
    private readonly run: () => Promise<void>,
    private readonly gapMs: (cpuMs: number) => number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** A run soon: at once when the last ended long enough ago, else when it has. */
  request(): void {
    if (this.stopped) return
    this.pending = true
    if (this.running === undefined) this.arm()
  }

  /** A run that starts after the one under way ends, without waiting for the gap; resolves when it ended. */
  async now(): Promise<void> {
    while (this.running !== undefined) await this.running
    if (this.stopped) return
    await this.start()
  }

  /** What was asked and not yet run, run now; resolves when no run is under way. */
  async flush(): Promise<void> {
    while (this.running !== undefined) await this.running
    if (this.pending && !this.stopped) await this.start()
  }

  /** No run from now on; resolves when the one under way, if any, ended. */
  async stop(): Promise<void> {
    this.stopped = true
    this.disarm()
    while (this.running !== undefined) await this.running
  }

  private arm(): void {
    this.timer ??= setTimeout(
      () => {
        this.timer = undefined
        // A timer counts from the event loop's cached time, so it can fire early by what this turn of the loop has run.
        if (performance.now() < this.readyAt) this.arm()
        else void this.start()
      },
      Math.max(0, this.readyAt - performance.now()),
    )
  }

  private disarm(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private start(): Promise<void> {
    this.disarm()
    this.pending = false
    const began = performance.now()
    let ran: Promise<void>
    try {
      ran = this.run()
    } catch (err) {
      ran = Promise.reject(err)
    }
    const cpuMs = performance.now() - began
    const running = ran
      .catch((err: unknown) => this.onError(err))
      .finally(() => {
        this.running = undefined
        this.readyAt = performance.now() + this.gapMs(cpuMs)
        if (this.pending && !this.stopped) this.arm()
      })
    this.running = running
    return running
  }
}
