import type { Logger } from '../log.js'

/**
 * How many log lines one remote address may cause: a stranger opening (or
 * being refused) connections as fast as it can must not fill the disk
 * through the server's log (500 bytes a refusal, 1,000 a second from one
 * process: about 1 GB an hour). Each address may log `burst` lines per
 * `windowMs`; the rest are counted, and the count rides on its next line.
 * At most `maxAddresses` are tracked: when full, windows that ended are
 * forgotten (what they held back is counted as held back elsewhere, and
 * rides on the next line logged for any address), and a new address past
 * that, while every tracked one is still in its window, is held back and
 * counted so too. So a flood from many addresses silences newcomers only
 * while it lasts. And all addresses together may log `totalBurst` lines per
 * `windowMs`, the rest counted onto the next line let through for any
 * address: an attacker cycling through thousands of addresses (IPv6 gives
 * one host as many as it likes) had each one's window let its lines
 * through, ~0.6 GB an hour. Only `important` lines (a handshake refused, a
 * session that failed: what says someone is attacking a path) may use the
 * whole total; the others (connections opened and closed, "busy" refusals,
 * what any flood of connections makes) half of it, so such a flood cannot
 * silence them.
 */

export interface LogGateLimits {
  burst: number
  windowMs: number
  maxAddresses: number
  /** Lines all addresses together may log per window. */
  totalBurst: number
}

export const DEFAULT_LOG_GATE_LIMITS: LogGateLimits = {
  burst: 20,
  windowMs: 10_000,
  maxAddresses: 4096,
  totalBurst: 200,
}

interface Window {
  startedAt: number
  lines: number
  heldBack: number
}

/** `heldBack`: this address's lines held back since its last; `elsewhere`: other addresses' never reported yet. */
export type GateAnswer = { log: true; heldBack: number; elsewhere: number } | { log: false }

export class LogGate {
  private readonly windows = new Map<string, Window>()
  /** Lines held back and not reported yet: of addresses not tracked (the gate was full) or forgotten, or by the total. */
  private untracked = 0
  /** The window of lines of all addresses together. */
  private readonly total: Window = { startedAt: -Infinity, lines: 0, heldBack: 0 }

  constructor(
    private readonly limits: LogGateLimits = DEFAULT_LOG_GATE_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether a line about `address` may be logged now, with the lines held back since its last one. */
  pass(address: string, important = false): GateAnswer {
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
    if (now - this.total.startedAt >= this.limits.windowMs) {
      this.total.startedAt = now
      this.total.lines = 0
    }
    if (window.lines >= this.limits.burst) {
      window.heldBack++
      return { log: false }
    }
    if (this.total.lines >= (important ? this.limits.totalBurst : this.limits.totalBurst / 2)) {
      this.untracked++
      return { log: false }
    }
    window.lines++
    this.total.lines++
    const answer = { log: true as const, heldBack: window.heldBack, elsewhere: this.untracked }
    window.heldBack = 0
    this.untracked = 0
    return answer
  }

  /** Lines held back and not reported yet, of every address (for a last line when the server stops). */
  heldBack(): number {
    let held = this.untracked
    for (const window of this.windows.values()) held += window.heldBack
    return held
  }

  /** Windows that ended: what they held back is reported with the next line logged. */
  private forgetEnded(now: number): void {
    for (const [address, window] of this.windows)
      if (now - window.startedAt >= this.limits.windowMs) {
        this.untracked += window.heldBack
        this.windows.delete(address)
      }
  }
}

/**
 * The logger of a connection from an address the gate gave `line` for: past its address's share of log lines, a
 * connection logs only warnings (its opening and closing lines go). A child logger only where its lines differ: one
 * per connection on the accept path otherwise.
 */
export function connectionLog(log: Logger, line: GateAnswer): Logger {
  const held = line.log ? heldBackFields(line) : {}
  return !line.log ? log.child({}, { level: 'warn' }) : Object.keys(held).length > 0 ? log.child(held) : log
}

/** The fields a line let through carries about lines held back (none when nothing was). */
export function heldBackFields(answer: { heldBack: number; elsewhere: number }): {
  linesHeldBack?: number
  linesHeldBackElsewhere?: number
} {
  return {
    ...(answer.heldBack > 0 ? { linesHeldBack: answer.heldBack } : {}),
    ...(answer.elsewhere > 0 ? { linesHeldBackElsewhere: answer.elsewhere } : {}),
  }
}
