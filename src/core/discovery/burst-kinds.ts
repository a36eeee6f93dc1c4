/**
 * What the announcer's next burst does: announce the whole store or only
 * what changed (sent-entries.ts), and read the whole store or only the
 * entry directories its watches saw change (store-changes.ts). Whole at
 * start, after each interval (even one that ticked while a burst was under
 * way) and after a failed burst (its changes were taken, and what it was to
 * refresh was not sent); the store is read whole at start, after a failed
 * burst, and at the first whole burst once
 * `rescanMs` has passed since the last whole read: the net for a change a
 * watch missed, which at 10,000 entries costs ~0.85 CPU-s a time.
 */
export class BurstKinds {
  private wholeDue = true
  private rescanDue = true
  private lastRescan = 0

  constructor(
    private readonly rescanMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** An interval passed: the next burst announces everything. */
  interval(): void {
    this.wholeDue = true
  }

  /** The burst starting now: whether it announces the whole store, and whether it reads it whole. */
  next(): { whole: boolean; rescan: boolean } {
    const whole = this.wholeDue
    const rescan = whole && (this.rescanDue || this.now() - this.lastRescan >= this.rescanMs)
    this.wholeDue = false
    this.rescanDue = false
    if (rescan) this.lastRescan = this.now()
    return { whole, rescan }
  }

  /** The burst failed (its scan, or anything before its datagrams went out): the next one reads and announces everything. */
  failed(): void {
    this.wholeDue = true
    this.rescanDue = true
  }
}
