/**
 * secret-stream's framing on a DHT connection's raw stream: each message is a 3-byte little-endian length, then
 * that many bytes. Followed here across the raw stream's chunks however they are cut, so that a message's length
 * is known from its prefix, before any of its bytes are held.
 */
export const LENGTH_PREFIX_BYTES = 3

export class MessageLengths {
  private prefixRead = 0
  private length = 0
  /** Bytes of the current message not yet seen. */
  private left = 0
  private over: number | undefined

  constructor(readonly max: number) {}

  /** Reads the next bytes of the stream; returns the first message length over `max` seen so far, if any. */
  scan(data: Uint8Array): number | undefined {
    let at = 0
    while (this.over === undefined && at < data.byteLength) {
      if (this.left > 0) {
        const take = Math.min(this.left, data.byteLength - at)
        this.left -= take
        at += take
        continue
      }
      this.length += data[at++]! * 256 ** this.prefixRead
      if (++this.prefixRead < LENGTH_PREFIX_BYTES) continue
      if (this.length > this.max) this.over = this.length
      this.left = this.length
      this.prefixRead = 0
      this.length = 0
    }
    return this.over
  }
}
