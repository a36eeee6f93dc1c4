import { LENGTH_BYTES, MAX_RECORD_BYTES, readLength } from './records.js'

/**
 * What an encrypted connection has read and not yet handled, cut into its
 * messages (| L: 3 bytes, little-endian | L bytes |: handshake messages, then
 * records; records.ts). One buffer, reused: each read lands in `window()`,
 * whole messages are handed on as views of it (valid until the next read),
 * and a partial one is moved to the front. Pure: no socket here; the
 * connection says which lengths it accepts and what a message means.
 */

/** The most a connecting side reads at once while streaming: four whole records. */
const READ_AHEAD_BYTES = 4 * (LENGTH_BYTES + MAX_RECORD_BYTES)

/** Where the messages go: the connection (secure-socket.ts). */
export interface MessageSink {
  /** Whether the connection closed: nothing more is handed on, the rest stays as it is. */
  closed(): boolean
  /** Whether a read may take several whole records (up to READ_AHEAD_BYTES). */
  readAhead(): boolean
  /** Throws if a message of `length` bytes may not come, before any of it is waited for. */
  checkLength(length: number): void
  message(bytes: Buffer): void
}

export class MessageInput {
  private input = Buffer.allocUnsafe(4 * 1024)
  private filled = 0

  constructor(private readonly sink: MessageSink) {}

  /** Bytes held of a message not yet whole. */
  get pending(): number {
    return this.filled
  }

  /** Where the next read lands: the rest of the message being read, and the next message's length. */
  window(): Buffer {
    if (this.sink.readAhead() && this.filled >= LENGTH_BYTES) {
      // Several records a read, fewer system calls; a partial one is moved to the front after.
      this.reserve(READ_AHEAD_BYTES)
      return this.input.subarray(this.filled)
    }
    const need = this.filled < LENGTH_BYTES ? 2 * LENGTH_BYTES : LENGTH_BYTES + readLength(this.input, 0) + LENGTH_BYTES
    this.reserve(need)
    return this.input.subarray(this.filled, need)
  }

  /** `bytes` were read into window(): every whole message now in, in order, to the sink. */
  added(bytes: number): void {
    this.filled += bytes
    let at = 0
    while (!this.sink.closed() && this.filled - at >= LENGTH_BYTES) {
      const length = readLength(this.input, at)
      this.sink.checkLength(length)
      if (this.filled - at < LENGTH_BYTES + length) break
      const message = this.input.subarray(at + LENGTH_BYTES, at + LENGTH_BYTES + length)
      at += LENGTH_BYTES + length
      this.sink.message(message)
    }
    if (at > 0 && !this.sink.closed()) {
      this.input.copy(this.input, 0, at, this.filled)
      this.filled -= at
    }
  }

  /** Bytes from a 'data' event (a fresh buffer). */
  consume(segment: Buffer): void {
    let at = 0
    while (at < segment.byteLength && !this.sink.closed()) {
      const window = this.window()
      const take = Math.min(window.byteLength, segment.byteLength - at)
      segment.copy(window, 0, at, at + take)
      at += take
      this.added(take)
    }
  }

  private reserve(bytes: number): void {
    if (this.input.byteLength >= bytes) return
    const bigger = Buffer.allocUnsafe(Math.min(Math.max(bytes, 2 * this.input.byteLength), READ_AHEAD_BYTES))
    this.input.copy(bigger, 0, 0, this.filled)
    this.input = bigger
  }
}
