import type { DirectTarget } from '../direct-io.js'
import { HashPace } from '../hash-pace.js'
import { hashThreads } from '../hash-pool.js'

/** What became of a chunk handed to `verifyAndWrite`. */
export type WriteOutcome = 'written' | 'mismatch' | 'closed'

/** `verifyAndWrite`'s result: the outcome, and the chunk's bytes to go on with (see there). */
export interface Verified<T extends Uint8Array> {
  outcome: WriteOutcome
  data: T
}

/**
 * The chunk writes into a download's `data`: each chunk hashed and, only if
 * it matches, written at its offset — on the hash thread (by that thread)
 * once chunks arrive fast, on the main thread with the write on libuv's pool
 * while they arrive slowly (hash-pace.ts); direct, past the page cache, where
 * `file` has an O_DIRECT descriptor (direct-io.ts). Every such write is kept
 * pending until it ends, so the descriptors (whose numbers the kernel would
 * give to the next file opened) are never closed while one is, and none starts once
 * closing has begun (packed-writer.ts owns the descriptors and closes them
 * after `stop`).
 */
export class HashedWrites {
  /** open → closing (no new write starts; the pending ones end) → closed (the descriptors may be closed). */
  private state: 'open' | 'closing' | 'closed' = 'open'
  private readonly pending = new Set<Promise<unknown>>()

  constructor(
    private readonly file: DirectTarget,
    private readonly chunkSize: number,
    private readonly pace: HashPace = new HashPace(),
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Closing has begun: no write starts any more. */
  get closing(): boolean {
    return this.state !== 'open'
  }

  get closed(): boolean {
    return this.state === 'closed'
  }

  /**
   * Hash `data` and, only if it is `expected`, write it at chunk `index`'s
   * offset. 'closed' when closing has begun (nothing is hashed or written).
   * `data` must stay untouched until this settles, and the caller goes on
   * with the `data` of the result: when the hash thread took the chunk's
   * memory (hashing.ts), the Buffer passed in is empty from then on. A write
   * error rejects with the fs error's code (the memory stays with the thread's
   * answer, for the garbage collector).
   */
  async verifyAndWrite<T extends Uint8Array>(index: number, data: T, expected: string): Promise<Verified<T>> {
    if (this.state !== 'open') return { outcome: 'closed', data }
    const target = { ...this.file, offset: index * this.chunkSize }
    const write = hashThreads().digestAndStorePaced(data, target, expected, this.pace, this.now())
    const tracked = write.catch(() => undefined).finally(() => this.pending.delete(tracked))
    this.pending.add(tracked)
    const done = await write
    return { outcome: done.hex === expected ? 'written' : 'mismatch', data: done.data }
  }

  /** Whether `data` hashes to `expected` (a chunk already in `data`, checked again on resume), on the same pace. */
  async verify(data: Uint8Array, expected: string): Promise<boolean> {
    return (await hashThreads().digestPaced(data, this.pace, this.now())) === expected
  }

  /** No write starts from now on; resolves when the pending ones (endgame duplicates, a stopped download's) have ended. */
  async stop(): Promise<void> {
    if (this.state === 'open') this.state = 'closing'
    while (this.pending.size > 0) await Promise.allSettled([...this.pending])
  }

  /** Every write has ended (after `stop`): the descriptors may be closed. */
  async close(): Promise<void> {
    await this.stop()
    this.state = 'closed'
  }
}
