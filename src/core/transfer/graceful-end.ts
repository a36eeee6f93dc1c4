import type { Channel } from './connection-services.js'
import type { TcpEnds } from './tcp-table.js'
import type { SocketIdentity, Unsent, UnsentBytes } from './unsent-bytes.js'

/**
 * How a chunk server connection lets go, so that no orphaned socket keeps
 * its answers (server-connection.ts):
 *
 * Ending our half once every answer is handed to the channel (the client
 * ended its half, a bad frame, the server stopping) happens only once the
 * kernel holds none of them unsent. Ending a socket lets Node close its
 * descriptor as soon as both halves are done, while the kernel keeps the
 * bytes not yet sent (up to the send buffer, ~4 MiB) in an orphaned socket,
 * for a peer that may never read them; and the connection's slot, its
 * address's count and its budget account went with the descriptor: an
 * attacker on loopback held 1,000 such orphans (~1 GB of kernel memory)
 * from one address whose cap is 16. So the connection waits here, keeping
 * all of those, until the kernel's unsent bytes for it (unsent-bytes.ts)
 * reach 0, and only then ends its half: the FIN follows delivered data, and
 * a half-closing client gets every answer, then its end. A peer that does
 * not take them is cut by the idle timeout (the unsent bytes going down is
 * progress), with a reset, which frees the kernel's buffer.
 *
 * The idle timeout, expiring on a connection still open, is judged here
 * too, from two readings a poll apart: nothing unsent → closed as usual (a
 * pooled client that went quiet gets a FIN, not a reset); fewer unsent bytes
 * the second time → a slow reader taking what the kernel holds, progress;
 * otherwise → reset. Expiring on one that is ending, it is judged by the
 * next reading against the last (the last may predate what the peer took
 * since: a client that sent its FIN just before the timeout and read every
 * answer was reset): the kernel sent everything → our half ends, closed
 * without a reset; fewer unsent bytes → progress; otherwise → reset. A poll
 * that fails (out of descriptors) counts, while a timeout is judged, as a
 * reading that missed the connection, so the cut is late, never lost.
 *
 * A channel that is not TCP (a DHT session: its unsent bytes are the
 * engine's, in this process, and go when it is destroyed) ends at once, as
 * does one on a system without the table ('unknown': not Linux), where the
 * kernel keeps what it holds, as before. A connection the table does not
 * list MAX_MISSES polls in a row is taken as the latter; a poll or a few
 * may miss one: the kernel writes the table a page (~27 sockets) per read,
 * and a socket may be skipped while others open and close between reads
 * (seen under a flood with 3 misses in a row: an orphan per such miss).
 */

/** Polls in a row that do not find a connection before it counts as one the table cannot tell of (~2 s). */
const MAX_MISSES = 20

/** What an idle timeout comes to: the connection made progress after all, or is closed (with a reset or not). */
export type IdleVerdict = 'progress' | 'close' | 'reset'

export class GracefulEnd {
  /**
   * Our half ended with nothing held unsent for it (or nothing a kernel holds: not TCP): a reset would lose
   * nothing, and none is needed.
   */
  settled = false
  private phase: 'open' | 'judging' | 'ending' | 'ended' | 'gone' = 'open'
  /**
   * Our half's end was asked for (it stays so once the connection is gone): the socket may no longer be reset, as
   * libuv refuses to while its shutdown is pending, and Node then loses the descriptor (a loop spinning on it).
   */
  ended = false

  /** Asked to end while an idle timeout was being judged: done once it is judged progress. */
  private endAsked = false
  /** An idle timeout that expired while ending: judged by the next reading. */
  private idleWhileEnding: ((v: IdleVerdict) => void) | undefined
  private stopWatch: (() => void) | undefined
  /** The socket, once a reading showed it: kept across watches, so a newcomer at the same ends is never taken for it. */
  private readonly socket: SocketIdentity = {}
  private last: number | undefined
  private misses = 0

  constructor(
    private readonly channel: Channel,
    private readonly unsent: Pick<UnsentBytes, 'watch'>,
    private readonly hooks: {
      /** The unsent bytes went down while ending. */
      progress(): void
      /** Our half ended after the kernel sent everything (or not over TCP): `settled`. */
      delivered(): void
    },
  ) {}

  /** Every answer is handed to the channel: wait for the kernel to send them, then end our half. Once. */
  begin(): void {
    if (this.phase === 'judging') this.endAsked = true
    if (this.phase !== 'open') return
    this.phase = 'ending'
    const ends = this.ends()
    if (ends === undefined) this.end(true)
    else this.watch(ends, (n) => this.ending(n))
  }

  /** The idle timeout expired: `verdict` (at once, after a poll or two, or at most MAX_MISSES polls). */
  idle(verdict: (v: IdleVerdict) => void): void {
    const ends = this.ends()
    if (this.phase === 'ending' && ends !== undefined) {
      this.idleWhileEnding = verdict
      return
    }
    if (this.phase !== 'open' || ends === undefined) {
      verdict(this.settled ? 'close' : 'reset') // ending and stuck, or ended: no waiting
      return
    }
    this.phase = 'judging'
    this.watch(ends, (n) => {
      const v = this.judge(n)
      if (v === undefined) return
      this.stop()
      this.phase = 'open'
      verdict(v) // may close the connection (then `close()` came)
      if (this.endAsked) this.begin()
    })
  }

  /** The connection is gone: no more watching, nothing more. */
  close(): void {
    this.stop()
    this.idleWhileEnding = undefined
    this.phase = 'gone'
  }

  private stop(): void {
    this.stopWatch?.()
    this.stopWatch = undefined
    this.last = undefined
    this.misses = 0
  }

  private ends(): TcpEnds | undefined {
    const { localAddress, localPort, remoteAddress, remotePort } = this.channel
    if (localAddress === undefined || localPort === undefined) return undefined // not over TCP
    return { localAddress, localPort, remoteAddress: remoteAddress ?? '', remotePort: remotePort ?? 0 }
  }

  private watch(ends: TcpEnds, listener: (unsent: Unsent) => void): void {
    this.stopWatch = this.unsent.watch(ends, listener, this.socket)
  }

  /** Whether a reading is a number to go by (a connection never found, or never read, counts as 'unknown'). */
  private known(unsent: Unsent): number | 'unknown' | undefined {
    if (unsent === 'missing' || unsent === 'failed') return ++this.misses >= MAX_MISSES ? 'unknown' : undefined
    this.misses = 0
    return unsent
  }

  private ending(reading: Unsent): void {
    const idle = this.idleWhileEnding
    // A failed poll tells nothing; the idle timeout bounds the wait, unless it is the one being judged.
    if (reading === 'failed' && idle === undefined) return
    const unsent = this.known(reading)
    if (unsent === undefined) return
    this.idleWhileEnding = undefined
    if (unsent === 'unknown') {
      if (idle === undefined) this.end(false)
      else idle('reset')
      return
    }
    const before = this.last
    this.last = unsent
    if (before !== undefined && unsent < before) this.hooks.progress()
    // Bytes still in Node's queue are not in the kernel's count yet (their writes' completions are progress).
    if (unsent === 0 && this.channel.writableLength === 0) {
      this.end(true)
      idle?.('close')
    } else if (idle !== undefined && before === undefined)
      this.idleWhileEnding = idle // a second reading to compare
    else idle?.(before !== undefined && unsent < before ? 'progress' : 'reset')
  }

  private judge(reading: Unsent): IdleVerdict | undefined {
    const unsent = this.known(reading)
    if (unsent === undefined) return undefined
    if (unsent === 'unknown') return 'reset'
    if (unsent === 0 && this.channel.writableLength === 0) return 'close'
    if (this.last === undefined) {
      this.last = unsent
      return undefined
    }
    return unsent < this.last ? 'progress' : 'reset'
  }

  private end(settled: boolean): void {
    this.stop()
    this.phase = 'ended'
    this.ended = true
    this.settled = settled
    this.channel.end()
    if (settled) this.hooks.delivered()
  }
}
