/**
 * A connection's idle timeout: `expired` runs once `ms` pass without
 * `progress()` (bytes received, bytes handed to the kernel, or the kernel's
 * unsent bytes going down: graceful-end.ts), and may `rearm()` it. Our own rather than
 * socket.setTimeout, whose first expiry Node skips while a write is under
 * way (net.js `_onTimeout`: the write queue changed since the write began),
 * so a client that stops reading was cut at twice the timeout. `progress()`
 * is a clock read, nothing more: the timer is armed again only when it
 * fires early. Unref'd, as a socket's own timeout is: an idle connection does
 * not keep the process alive.
 */
export class ProgressDeadline {
  private last: number
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly ms: number,
    private readonly expired: () => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.last = now()
    this.arm(ms)
  }

  progress(): void {
    this.last = this.now()
  }

  stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** Whether there was progress within the last `ms` (after an expiry: since it, while it was being judged). */
  get renewed(): boolean {
    return this.last + this.ms > this.now()
  }

  /** After an expiry that did not close the connection: run again, from the last progress. */
  rearm(): void {
    if (this.timer === undefined) this.arm(this.last + this.ms - this.now())
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.check(), Math.max(1, Math.ceil(ms))).unref()
  }

  private check(): void {
    const left = this.last + this.ms - this.now()
    if (left > 0) {
      this.arm(left)
      return
    }
    this.timer = undefined
    this.expired()
  }
}
