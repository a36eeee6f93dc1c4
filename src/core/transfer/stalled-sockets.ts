/**
 * Answers stuck in the sockets of clients that stopped reading. A response
 * handed to a socket leaves the read-ahead budget (so that a client that
 * stops reading cannot hold budget others need), but its buffer stays
 * pinned until the kernel takes the bytes: one chunk per stalled connection.
 * To keep that memory bounded too, the stalled answers together may pin at
 * most `maxBytes`; past it, the connection stalled longest is closed (what
 * its idle timeout would do later), once it has been stalled for at least
 * `minStallMs`. A client that reads, however slowly, stalls only until its
 * next 'drain', so it is never the one stalled longest for long; a client
 * that stopped reading is. (Without the minimum, a reading client caught
 * mid-drain when a crowd of new non-readers stalls at once could be the
 * oldest by a few milliseconds.)
 */

export interface Evictable {
  /** Close the connection, releasing what it holds. */
  evict(): void
}

export class StalledSockets {
  /** Oldest stall first (a Map keeps insertion order). */
  private readonly stalls = new Map<Evictable, { bytes: number; since: number }>()
  private bytes = 0
  private timer: NodeJS.Timeout | undefined
  /** Connections closed to bring the stalled bytes back under the limit. */
  evictions = 0

  constructor(
    private readonly maxBytes: number,
    private readonly minStallMs = 1000,
    private readonly now = () => performance.now(),
  ) {}

  get pinned(): number {
    return this.bytes
  }

  /** `connection` waits for its socket to drain with `bytes` pinned in it. */
  stalled(connection: Evictable, bytes: number): void {
    this.resumed(connection)
    this.stalls.set(connection, { bytes, since: this.now() })
    this.bytes += bytes
    this.enforce()
  }

  /** `connection` drained, or closed. */
  resumed(connection: Evictable): void {
    const stall = this.stalls.get(connection)
    if (stall === undefined) return
    this.stalls.delete(connection)
    this.bytes -= stall.bytes
  }

  /** No more checks (the server is closing). */
  close(): void {
    clearTimeout(this.timer)
  }

  private enforce(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    while (this.bytes > this.maxBytes && this.stalls.size > 1) {
      const [oldest, stall] = this.stalls.entries().next().value!
      const wait = stall.since + this.minStallMs - this.now()
      if (wait > 0) {
        this.timer = setTimeout(() => this.enforce(), wait).unref()
        return
      }
      this.resumed(oldest)
      this.evictions++
      oldest.evict()
    }
  }
}
