/**
 * The last few datagrams decoded, by their bytes. Each burst of
 * announcements goes out over IPv4 and over IPv6 a moment apart, so a
 * listener with both families gets most datagrams twice, from two
 * addresses; the second is merged from the first one's decode instead of
 * being parsed and checked again (a tenth of a downloader's datagram work
 * among sixteen hosts, docs/benchmarks.md). A decode is reused only for the
 * very same bytes (a copy of each is kept and compared whole), and decoding
 * is pure, so reusing one gives what decoding again would; whoever gets a
 * value must only read it. Bounded: `size` entries, each one datagram.
 */
export class RecentDecodes<T> {
  private readonly entries: Array<{ bytes: Buffer; value: T }> = []
  private next = 0

  constructor(private readonly size: number) {}

  get(bytes: Uint8Array): T | undefined {
    for (const entry of this.entries) if (entry.bytes.equals(bytes)) return entry.value
    return undefined
  }

  /** Remember `value` as what `bytes` decode to, in place of the oldest entry once full; returns `value`. */
  put(bytes: Uint8Array, value: T): T {
    const entry = { bytes: Buffer.from(bytes), value }
    if (this.entries.length < this.size) this.entries.push(entry)
    else this.entries[this.next] = entry
    this.next = (this.next + 1) % this.size
    return value
  }
}
