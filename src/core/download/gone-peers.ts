import type { PeerRecord } from './peer-record.js'

/** Records of peers gone kept at most, past those that gave bytes or were banned. */
export const MAX_GONE = 256

/**
 * The records of peers that left a download (scheduler.ts): for the receipt, and for their failures and denials
 * should they come back. Past MAX_GONE the longest gone that gave nothing and was never banned is forgotten: a
 * stranger announcing a fresh port in every datagram had each kept, some 3,000 lines of "0 B" in the receipt of a
 * 3 s download (attacker pass, fifty-fifth session).
 */
export class GonePeers {
  private readonly records = new Map<string, PeerRecord>()
  /** Records forgotten to stay within MAX_GONE. */
  forgotten = 0

  get(key: string): PeerRecord | undefined {
    return this.records.get(key)
  }

  /** It came back: true when it was here. */
  delete(key: string): boolean {
    return this.records.delete(key)
  }

  values(): IterableIterator<PeerRecord> {
    return this.records.values()
  }

  keep(key: string, peer: PeerRecord): void {
    this.records.set(key, peer)
    if (this.records.size <= MAX_GONE) return
    for (const [other, record] of this.records)
      if (record.bytes === 0 && record.banned === undefined) {
        this.records.delete(other)
        this.forgotten++
        return
      }
  }
}
