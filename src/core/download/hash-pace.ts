/**
 * Where a download's chunks are hashed and written: on the main thread
 * while they arrive slowly, on the hash thread (hashing.ts) once they come
 * fast. A hash thread is a V8 isolate of its own, ~10 MB resident; a
 * download that gets its chunks at 25 MB/s (a 200 Mbit/s link, every host
 * of a swarm) spends 1.5 % of its main thread hashing them there and never
 * needs one. Fast downloads (a gigabit LAN, loopback) start the thread within
 * their first window and keep it: it is paid for by then.
 *
 * Pure: the caller passes the clock's reading.
 */

/** The window over which arrivals are counted. */
export const HASH_PACE_WINDOW_MS = 250
/**
 * More than this within one window, and the hash thread takes over: 64 MiB/s, where SHA-256 (~1.6 GB/s)
 * would be ~4 % of the main thread. A download holds at most 8 MiB in flight (DEFAULT_DOWNLOAD_BUFFER_BYTES),
 * so a backlog of chunks finishing together cannot cross it; only a sustained rate can.
 */
export const MAIN_THREAD_BYTES_PER_WINDOW = 16 * 1024 * 1024

export class HashPace {
  private windowStart = -Infinity
  private windowBytes = 0
  private fast = false

  constructor(private readonly bytesPerWindow = MAIN_THREAD_BYTES_PER_WINDOW) {}

  /** Whether a chunk of `bytes` arriving at `now` (ms) goes to the hash thread; once one does, every later one does. */
  toThread(bytes: number, now: number): boolean {
    if (this.fast) return true
    if (now - this.windowStart >= HASH_PACE_WINDOW_MS) {
      this.windowStart = now
      this.windowBytes = 0
    }
    this.windowBytes += bytes
    this.fast = this.windowBytes > this.bytesPerWindow
    return this.fast
  }
}
