import type { ErrorCode } from '../errors.js'
import type { Reclaimed } from './admission.js'
import type { ConnectionCounters } from './connection-services.js'
import type { Header } from './frame-header.js'

const RECLAIMED_FIELDS = {
  silent: 'reclaimedSilent',
  unserved: 'reclaimedUnserved',
  crowded: 'reclaimedCrowded',
  idle: 'reclaimedIdle',
} as const satisfies Record<Reclaimed, string>

/**
 * What a chunk server counts itself (the first fields of `ServerStats`, server-settings.ts): connections
 * admitted, refused and reclaimed, requests, chunks and bytes served, errors by code, ownership bugs; its
 * chunk source, catalog, stalled sockets and byte budget count the rest. No I/O: the server says what it
 * did, and each connection, handed this as its `ConnectionCounters`, what it asked and answered.
 */
export class ServerTally implements ConnectionCounters {
  readonly counts = {
    connections: 0,
    refusedBusy: 0,
    refusedPerAddress: 0,
    refusedUnanswered: 0,
    refusedRate: 0,
    reclaimedSilent: 0,
    reclaimedUnserved: 0,
    reclaimedCrowded: 0,
    reclaimedIdle: 0,
    requests: 0,
    chunksServed: 0,
    bytesServed: 0,
    readAheadReturned: 0,
    violations: 0,
    refusedAuth: 0,
    notNow: 0,
    unprovenClosed: 0,
  }
  private readonly errors: Record<string, number> = {}

  /** The counts, then the errors by code: copies, in `ServerStats`' order. */
  get stats() {
    return { ...this.counts, errors: { ...this.errors } }
  }

  /** A connection closed to make room for a newcomer (admission.ts), by why it gave way. */
  reclaimed(why: Reclaimed): void {
    const field = RECLAIMED_FIELDS[why]
    this.counts[field]++
  }

  request(): void {
    this.counts.requests++
  }

  readAheadReturned(): void {
    this.counts.readAheadReturned++
  }

  error(code: ErrorCode | string): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1
  }

  /** A chunk answer counts as served, with its body's bytes; an error answer, under its code. */
  answered(header: Header, bodyBytes: number): void {
    if (header.type === 'chunk') {
      this.counts.chunksServed++
      this.counts.bytesServed += bodyBytes
    } else if (header.type === 'error' && typeof header.code === 'string') {
      this.error(header.code)
    }
  }
}
