import { LruMap } from './lru-map.js'

/**
 * Token buckets in bytes, one per key (a source address) and one for all
 * keys together. A key may spend `burst` bytes at once and `perSecond` bytes
 * a second after that; all keys together `totalBurst` (default: one second's
 * worth) and `totalPerSecond`, so spoofing many sources does not multiply
 * the budget.
 * At most `maxKeys` buckets are kept, the least recently used dropped first
 * (a dropped key comes back with a full bucket; the total still holds).
 *
 * With `fairShareMs`, the total is shared when it is spent: a key may still
 * take, from a second budget as large as the total, while what it took in
 * about the last `fairShareMs` stays within an equal share of that window's
 * worth of the total among the keys that took in it. Without it the total
 * goes to whoever asks first and most often, so a few busy keys leave a
 * quiet one nothing; with it a key that asks for less than its share is
 * answered however often the others ask. Only for keys a stranger cannot
 * forge (proven sources): a forged one would take a share in another's
 * name.
 */

export interface RateLimitOptions {
  perSecond: number
  burst: number
  totalPerSecond: number
  totalBurst?: number
  maxKeys?: number
  /** Share a spent total among the keys that took in this window (milliseconds; see the class comment). */
  fairShareMs?: number
  now?: () => number
}

interface Bucket {
  tokens: number
  at: number
  /** What the key took lately: decayed by e every fairShareMs (with that option only). */
  recent: number
}

interface Budget {
  tokens: number
  at: number
}

export class ByteRateLimit {
  private readonly buckets = new LruMap<string, Bucket>()
  private readonly total: Budget
  /** The second budget shares are taken from when the total is spent (fairShareMs only). */
  private readonly shared: Budget
  /** The keys that took within the last fairShareMs, with when they last did, oldest first. */
  private readonly takers = new LruMap<string, number>()
  private readonly now: () => number
  private readonly maxKeys: number

  constructor(private readonly options: RateLimitOptions) {
    if (options.fairShareMs !== undefined && !(options.fairShareMs > 0))
      throw new RangeError(`fairShareMs must be positive, not ${options.fairShareMs}`)
    this.now = options.now ?? (() => performance.now())
    this.maxKeys = options.maxKeys ?? 4096
    const at = this.now()
    this.total = { tokens: options.totalBurst ?? options.totalPerSecond, at }
    this.shared = { tokens: this.windowShare(), at }
  }

  /** Spend `bytes` for `key` if both its bucket and the total allow it (or its fair share does); false (nothing spent) otherwise. */
  take(key: string, bytes: number, now = this.now()): boolean {
    const held = this.buckets.get(key)
    const bucket = this.refreshed(held, now)
    const from = this.source(key, bucket, bytes, now, this.sharable(held))
    // A key held keeps its place when refused (one refused over and over is not pushed out to come back with a
    // full bucket); a new key is held only once it takes, so refusals push no one's bucket out.
    if (from !== undefined || held !== undefined) this.hold(key, bucket)
    if (from === undefined) return false
    from.tokens -= bytes
    bucket.tokens -= bytes
    if (this.options.fairShareMs !== undefined) {
      bucket.recent += bytes
      this.takers.touch(key, now)
      if (this.takers.size > this.maxKeys) this.takers.deleteOldest()
    }
    return true
  }

  /** Whether take(key, bytes) would spend them now (nothing spent, no key held): a caller can refuse before making what it would send. */
  mayTake(key: string, bytes: number, now = this.now()): boolean {
    const held = this.buckets.get(key)
    return this.source(key, this.refreshed(held, now), bytes, now, this.sharable(held)) !== undefined
  }

  /**
   * Whether a key may take from the shared budget: not one new while the buckets are full, whose bucket would push
   * out another's, to come back with nothing taken lately (an attacker pass: over 4,096 sources in turn took the
   * shared budget whole). Shares that small are under any answer anyway.
   */
  private sharable(held: Bucket | undefined): boolean {
    return held !== undefined || this.buckets.size < this.maxKeys
  }

  /**
   * The key's bucket (`held`, or a full one for a key not held), refilled and its recent takes decayed to `now`, and
   * the total refilled with it: the same at the same instant however often asked.
   */
  private refreshed(held: Bucket | undefined, now: number): Bucket {
    const bucket = held ?? { tokens: this.options.burst, at: now, recent: 0 }
    const fairMs = this.options.fairShareMs
    // A clock that stepped back (an injected one can) neither decays nor refills.
    if (fairMs !== undefined) bucket.recent *= Math.exp(-Math.max(0, now - bucket.at) / fairMs)
    refill(bucket, now, this.options.perSecond, this.options.burst)
    refill(this.total, now, this.options.totalPerSecond, this.options.totalBurst ?? this.options.totalPerSecond)
    return bucket
  }

  /** Hold `bucket` as the key's newest, the least recently used pushed out past maxKeys. */
  private hold(key: string, bucket: Bucket): void {
    this.buckets.touch(key, bucket)
    if (this.buckets.size > this.maxKeys) this.buckets.deleteOldest()
  }

  /** The budget in all that `bytes` would come from: the total, else (fairShareMs) the shared one; none if neither. */
  private source(key: string, bucket: Bucket, bytes: number, now: number, sharable: boolean): Budget | undefined {
    if (bucket.tokens < bytes) return undefined
    if (this.total.tokens >= bytes) return this.total
    const fairMs = this.options.fairShareMs
    return fairMs !== undefined && sharable && this.withinShare(key, bucket.recent, bytes, fairMs, now)
      ? this.shared
      : undefined
  }

  /** With the total spent: whether the key's recent takes leave room for `bytes` in its share, and the shared budget has them. */
  private withinShare(key: string, recent: number, bytes: number, fairMs: number, now: number): boolean {
    for (let at = this.takers.oldest(); at !== undefined && at < now - fairMs; at = this.takers.oldest())
      this.takers.deleteOldest()
    const active = this.takers.size + (this.takers.has(key) ? 0 : 1)
    refill(this.shared, now, this.options.totalPerSecond, this.windowShare())
    return recent + bytes <= this.windowShare() / active && this.shared.tokens >= bytes
  }

  /** The total's bytes over one fairShareMs window (0 without the option). */
  private windowShare(): number {
    return ((this.options.fairShareMs ?? 0) / 1000) * this.options.totalPerSecond
  }
}

function refill(budget: Budget, now: number, perSecond: number, cap: number): void {
  budget.tokens = Math.min(cap, budget.tokens + (Math.max(0, now - budget.at) / 1000) * perSecond)
  budget.at = now
}
