import { LruMap } from './lru-map.js'

/**
 * Token buckets in bytes, one per key (a source address) and one for all
 * keys together. A key may spend `burst` bytes at once and `perSecond` bytes
 * a second after that; all keys together `totalBurst` (default: one second's
 * worth) and `totalPerSecond`, so spoofing many sources does not multiply
 * the budget.
 * At most `maxKeys` buckets are kept, the least recently used dropped first
 * (a dropped key comes back with a full bucket; the total still holds).
 */

export interface RateLimitOptions {
  perSecond: number
  burst: number
  totalPerSecond: number
  totalBurst?: number
  maxKeys?: number
  now?: () => number
}

interface Bucket {
  tokens: number
  at: number
}

export class ByteRateLimit {
  private readonly buckets = new LruMap<string, Bucket>()
  private readonly total: Bucket
  private readonly now: () => number

  constructor(private readonly options: RateLimitOptions) {
    this.now = options.now ?? (() => performance.now())
    this.total = { tokens: options.totalBurst ?? options.totalPerSecond, at: this.now() }
  }

  /** Spend `bytes` for `key` if both its bucket and the total allow it; false (nothing spent) otherwise. */
  take(key: string, bytes: number, now = this.now()): boolean {
    const bucket = this.buckets.get(key) ?? { tokens: this.options.burst, at: now }
    refill(bucket, now, this.options.perSecond, this.options.burst)
    refill(this.total, now, this.options.totalPerSecond, this.options.totalBurst ?? this.options.totalPerSecond)
    this.buckets.touch(key, bucket)
    if (this.buckets.size > (this.options.maxKeys ?? 4096)) this.buckets.deleteOldest()
    if (bucket.tokens < bytes || this.total.tokens < bytes) return false
    bucket.tokens -= bytes
    this.total.tokens -= bytes
    return true
  }
}

function refill(bucket: Bucket, now: number, perSecond: number, cap: number): void {
  bucket.tokens = Math.min(cap, bucket.tokens + ((now - bucket.at) / 1000) * perSecond)
  bucket.at = now
}
