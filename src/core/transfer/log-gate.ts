/**
 * How many log lines one remote address may cause: a stranger opening (or
 * being refused) connections as fast as it can must not fill the disk
 * through the server's log (500 bytes a refusal, 1,000 a second from one
 * process: about 1 GB an hour). Each address may log `burst` lines per
 * `windowMs`; the rest are counted, and the count rides on its next line.
 * At most `maxAddresses` are tracked: a new address past that, while every
 * tracked one is still in its window, is held back and counted with the rest.
 */

export interface LogGateLimits {
  burst: number
  windowMs: number
  maxAddresses: number
}

export const DEFAULT_LOG_GATE_LIMITS: LogGateLimits = { burst: 20, windowMs: 10_000, maxAddresses: 4096 }

interface Window {
  startedAt: number
  lines: number
  heldBack: number
}

export type GateAnswer = { log: true; heldBack: number } | { log: false }

export class LogGate {
  private readonly windows = new Map<string, Window>()
  /** Lines held back for addresses the gate had no room to track. */
  private untracked = 0

  constructor(
    private readonly limits: LogGateLimits = DEFAULT_LOG_GATE_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether a line about `address` may be logged now, with the lines held back since its last one. */
  pass(address: string): GateAnswer {
    const now = this.now()
    let window = this.windows.get(address)
    if (window === undefined) {
      if (this.windows.size >= this.limits.maxAddresses) this.forgetEnded(now)
      if (this.windows.size >= this.limits.maxAddresses) {
        this.untracked++
        return { log: false }
      }
      window = { startedAt: now, lines: 0, heldBack: 0 }
      this.windows.set(address, window)
    } else if (now - window.startedAt >= this.limits.windowMs) {
      window.startedAt = now
      window.lines = 0
    }
    if (window.lines >= this.limits.burst) {
      window.heldBack++
      return { log: false }
    }
    window.lines++
    const heldBack = window.heldBack
    window.heldBack = 0
    return { log: true, heldBack }
  }

  /** Lines held back for addresses not tracked (the gate was full). */
  get heldBackUntracked(): number {
    return this.untracked
  }

  /** Windows that ended with nothing held back carry nothing worth keeping. */
  private forgetEnded(now: number): void {
    for (const [address, window] of this.windows)
      if (now - window.startedAt >= this.limits.windowMs && window.heldBack === 0) this.windows.delete(address)
  }
}
