/**
 * The deadline of an encrypted record begun and not yet whole (secure-socket.ts): on a server, a record must be
 * complete within the frame deadline of its first byte, as a frame must (`--frame-timeout`; the chunk server's
 * connections keep their frames' deadline with one of these too, server-connection.ts). Plaintext exists only
 * once a record is whole, so the frame deadline never saw a record's header followed by a byte every few seconds,
 * and each byte put the idle timeout off: such a connection stayed open for ever. Not counted while the server
 * itself has stopped reading (then the record waits on us, not on the peer).
 */
export class RecordDeadline {
  private timer: NodeJS.Timeout | undefined
  private reading = true
  private pending = false

  constructor(
    private readonly ms: number | undefined,
    private readonly expired: (ms: number) => void,
  ) {}

  /**
   * After each read: whether part of a record is held, and whether a record came whole in it (the part held is then
   * of a record begun in this read: its deadline starts now, not at the one before it).
   */
  held(pending: boolean, completed = false): void {
    if (completed) this.clear()
    this.pending = pending
    this.check()
  }

  /** Whether we read the socket now (a paused socket's record is ours to wait for). */
  readingNow(reading: boolean): void {
    this.reading = reading
    this.check()
  }

  stop(): void {
    this.pending = false
    this.check()
  }

  private check(): void {
    const ms = this.ms
    if (ms === undefined || !this.pending || !this.reading) this.clear()
    else this.timer ??= setTimeout(() => this.expired(ms), ms)
  }

  private clear(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }
}
