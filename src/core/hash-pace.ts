/**
 * Where chunks are hashed: on the main thread while they come slowly, on
 * the hash thread (hashing.ts) once they come fast. A hash thread is a V8
 * isolate of its own, ~10 MB resident; a download that gets its chunks at
 * 25 MB/s (a 200 Mbit/s link, every host of a swarm) spends 1.5 % of its
 * main thread hashing them there and never needs one, and a server that
 * hashes a chunk now and then (one not yet recorded as verified) neither.
 * Fast work (a gigabit LAN, loopback, a large resume from the store, a
 * server checking a store no record covers) starts the thread within its
 * first window and keeps it: it is paid for by then. Chunks over
 * MAIN_THREAD_MAX_CHUNK go to the thread whatever the pace: hashing one
 * would hold the event loop too long.
 *
 * Pure: the caller passes the clock's reading.
 */

/** The window over which arrivals are counted. */
export const HASH_PACE_WINDOW_MS = 250
/**
 * More than this within one window, and the hash thread takes over: 64 MiB/s, where SHA-256 would take ~4 %
 * of the main thread (~1.6 GB/s with the CPU's SHA instructions; ~15 % without them). At the default
 * --max-buffered a download has at most 8 MiB in flight (chunks up to 2 MiB), so a backlog finishing at once
 * does not cross it by itself; with larger chunks or a larger buffer it may, which only starts the thread sooner.
 */
export const MAIN_THREAD_BYTES_PER_WINDOW = 16 * 1024 * 1024
/** The largest chunk hashed on the main thread: ~2.6 ms of its time at 1.6 GB/s. */
export const MAIN_THREAD_MAX_CHUNK = 4 * 1024 * 1024

export class HashPace {
  private windowStart = -Infinity
  private windowBytes = 0
  private fast = false

  constructor(private readonly bytesPerWindow = MAIN_THREAD_BYTES_PER_WINDOW) {}

  /** Whether chunks have come fast (and go to the thread from now on). */
  get isFast(): boolean {
    return this.fast
  }

  /** Whether a chunk of `bytes` arriving at `now` (ms) goes to the hash thread; once one does, every later one does. */
  toThread(bytes: number, now: number): boolean {
    if (this.fast) return true
    if (now - this.windowStart >= HASH_PACE_WINDOW_MS || now < this.windowStart) {
      this.windowStart = now
      this.windowBytes = 0
    }
    this.windowBytes += bytes
    this.fast = this.windowBytes > this.bytesPerWindow || bytes > MAIN_THREAD_MAX_CHUNK
    return this.fast
  }
}
