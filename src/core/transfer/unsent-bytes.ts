import { readFileSync } from 'node:fs'
import { endianness } from 'node:os'
import { type TableReading, type TcpEnds, tableEnds, unsentIn } from './tcp-table.js'

/**
 * How many bytes the kernel still holds unsent for TCP connections of ours
 * (written, not yet acknowledged by the peer), for a server that must not let
 * go of a connection whose answers are still on their way
 * (graceful-end.ts). On Linux from its table of sockets (tcp-table.ts): one
 * poller for every connection watched, each poll one read of /proc/net/tcp
 * and one of /proc/net/tcp6 whatever their number, and no poll while nothing
 * is watched. Elsewhere (no such table) every answer is 'unknown'.
 *
 * The work is bounded: a poll reads the table once (a line per socket of the
 * machine's network namespace), and the next begins no sooner than
 * `intervalMs` after it, nor sooner than ten times what it cost (the read
 * and the parse, on the main thread; never a wait for others' work), so a
 * machine with a huge table is polled less often rather than harder; this
 * holds across a pause with nothing watched too (an attacker ending one
 * connection at a time had a poll begin at each: 63 reads a second, a core
 * busy).
 *
 * A connection is the socket first read for it: should another socket take
 * its four ends (the peer reset it and connected again from the same port),
 * the lines of the newcomer, another inode, read 'missing' for it.
 */

/**
 * A connection's unsent bytes; 'missing': not in the table this time (it just closed, or could not be matched);
 * 'unknown': this system has no table to ask; 'failed': the table could not be read this time (out of descriptors).
 */
export type Unsent = number | 'missing' | 'unknown' | 'failed'

/**
 * The table's text (IPv4 and IPv6), or undefined where there is none; a thrown error is a poll 'failed'. What a
 * reader does before its first wait is the poll's cost (readProcTables: all of it); a wait is not.
 */
export type TableReader = () => Promise<string[] | undefined>

export const DEFAULT_UNSENT_POLL_MS = 100

/** Polls hold the main thread at most this share of the time: the next waits at least this many times the last one's cost. */
const IDLE_FACTOR = 10

interface Watch {
  /** Its ends as the table prints them (tableEnds), the first its key; undefined: not to be found. */
  printed: string[] | undefined
  listener: (unsent: Unsent) => void
  /** Polls begun before it was watched: their readings may predate the bytes it was watched for. */
  after: number
  /** The connection's socket: its inode, from the first reading any of its watches had. */
  socket: SocketIdentity
}

/** Which socket a connection is, once a reading has shown it: a caller watching it again passes the same object. */
export interface SocketIdentity {
  inode?: string
}

/**
 * Linux's tables of TCP sockets; undefined where there are none (a file that cannot be read throws). Read
 * synchronously, so that a poll costs what it does and no more: read on libuv's pool, each 64 KiB of the table
 * waited behind a busy server's chunk reads (polls 0.7 s apart instead of 0.1, and tens of seconds with a large
 * table, under load: second attack on the linger fix). A few hundred sockets take ~0.1 ms.
 */
export async function readProcTables(): Promise<string[] | undefined> {
  const read = (path: string): string | undefined => {
    try {
      return readFileSync(path, 'latin1')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined // not Linux, or IPv6 off (tcp6 alone)
      throw err
    }
  }
  const tables = [read('/proc/net/tcp'), read('/proc/net/tcp6')]
  if (tables.every((t) => t === undefined)) return undefined
  return tables.map((t) => t ?? '')
}

export class UnsentBytes {
  private readonly watches = new Set<Watch>()
  private timer: NodeJS.Timeout | undefined
  private polling = false
  /** No poll begins before this (performance.now()). */
  private nextAt = 0
  /** The system has no table: answered 'unknown' at each poll from then on, without reading. */
  private unavailable = false
  /** Polls begun (tests: one read of the table per poll, whatever the number watched). */
  polls = 0

  private readonly littleEndian: boolean

  constructor(
    private readonly read: TableReader = readProcTables,
    private readonly options: { intervalMs?: number; littleEndian?: boolean } = {},
  ) {
    this.littleEndian = options.littleEndian ?? endianness() === 'LE'
  }

  /** How many connections are watched now. */
  get watching(): number {
    return this.watches.size
  }

  /**
   * Calls `listener` after every poll with what the kernel holds unsent for the connection `ends` names, until
   * the returned function is called. Ends that cannot be matched (an address missing: the socket closed), or
   * matched by a socket other than `socket` names (once a reading named one), read 'missing'; a system without
   * the table, 'unknown'; a poll that could not read it, 'failed'.
   */
  watch(ends: Partial<TcpEnds>, listener: (unsent: Unsent) => void, socket: SocketIdentity = {}): () => void {
    const watch: Watch = { printed: tableEnds(ends, this.littleEndian), listener, after: this.polls, socket }
    this.watches.add(watch)
    this.schedule()
    return () => {
      this.watches.delete(watch)
      if (this.watches.size === 0) this.stopTimer()
    }
  }

  private schedule(): void {
    if (this.timer !== undefined || this.polling || this.watches.size === 0) return
    // Unref'd: the sockets watched, or the server's close, keep the process alive while it matters.
    this.timer = setTimeout(
      () => {
        this.timer = undefined
        void this.poll()
      },
      Math.max(0, this.nextAt - performance.now()),
    ).unref()
  }

  private stopTimer(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private async poll(): Promise<void> {
    this.polling = true
    const poll = ++this.polls
    let tables: string[] | undefined
    let failed = false
    // What a poll costs is what it does before its first wait (the table read, synchronously) and the parse: a wait
    // (a reader that awaits) is not charged, so other work never slows the polls.
    let cost = 0
    try {
      if (!this.unavailable) {
        const began = performance.now()
        const reading = this.read()
        cost = performance.now() - began
        tables = await reading
        this.unavailable = tables === undefined
      }
    } catch {
      failed = true // a read that failed (out of descriptors): 'failed', which a connection being judged counts
    }
    this.polling = false
    // A reading taken while a watch began may be from before its last bytes reached the kernel (a 0 that would
    // end a connection with ~1 MiB unsent: seen under a flood): only polls begun after it answer it.
    const watches = [...this.watches].filter((w) => w.after < poll)
    const parsing = performance.now()
    const found = failed || tables === undefined ? undefined : this.parse(tables, watches)
    cost += performance.now() - parsing
    this.nextAt = performance.now() + Math.max(this.options.intervalMs ?? DEFAULT_UNSENT_POLL_MS, IDLE_FACTOR * cost)
    const answer = failed ? 'failed' : tables === undefined ? 'unknown' : undefined
    try {
      // A listener may stop its own watch, or another's: each is asked only while still watched.
      for (const w of watches) if (this.watches.has(w)) w.listener(answer ?? this.reading(w, found!))
    } finally {
      this.schedule() // a listener that throws stops no other connection's polls
    }
  }

  private parse(tables: string[], watches: Watch[]): Map<string, TableReading> {
    const found = new Map<string, TableReading>()
    unsentIn(
      tables,
      watches.flatMap((w) => (w.printed ? [w.printed] : [])),
      found,
    )
    return found
  }

  private reading(w: Watch, found: ReadonlyMap<string, TableReading>): Unsent {
    const line = w.printed === undefined ? undefined : found.get(w.printed[0]!)
    if (line === undefined) return 'missing'
    w.socket.inode ??= line.inode
    return line.inode === w.socket.inode ? line.unsent : 'missing'
  }
}
