import { P2PError } from '../errors.js'

/** Failures that say a peer is there but could not answer now, not that the file is unknown to it. */
const FOR_NOW: ReadonlySet<string> = new Set(['E_BUSY', 'E_TIMEOUT', 'E_CONNECT', 'E_CLOSED'])

/** Whether `err` says its peer could not answer now (busy, unreachable), not that it lacks the file. */
export function failedForNow(err: P2PError): boolean {
  return FOR_NOW.has(err.code)
}

/**
 * What a manifest race that ended without a manifest reports (manifest-fetch.ts). The manifest came and was
 * refused (a folder's bad paths, say): `E_BAD_MANIFEST`. Some peer that has it could not answer now (a seeder
 * at its connection limit answers `E_BUSY`; a timeout; no connection), whatever the others said: `E_NO_PEER`,
 * exit 4, run again later, naming that failure. Else (none asked, or every one said it lacks it): `E_NOT_FOUND`.
 */
export function raceLost(
  id: string,
  last: P2PError | undefined,
  forNow: P2PError | undefined,
  crowded?: CrowdedAddress,
): P2PError {
  const lost = `no peer delivered the manifest of ${id.slice(0, 12)}… in time`
  const why = (err: P2PError | undefined) => (err ? ` (last error: ${err.message} [${err.code}])` : '')
  if (last?.code === 'E_BAD_MANIFEST')
    return new P2PError('E_BAD_MANIFEST', `${lost}${why(last)}: is a seeder running?`)
  if (forNow) {
    const flood = crowded
      ? `; ${crowded.unreachable} ports announced at ${crowded.address} could not be reached, a flood (its source address perhaps forged) that crowds out the claims of a seeder there: name the seeder with --peer ${crowded.address}, or run again later`
      : '; run again later'
    return new P2PError('E_NO_PEER', `${lost}${why(forNow)}: the peers that have it are busy or unreachable${flood}`)
  }
  return new P2PError('E_NOT_FOUND', `${lost}${why(last)}: is a seeder running?`)
}

/** An address many of whose announced ports could not be reached. */
export interface CrowdedAddress {
  address: string
  unreachable: number
}

/**
 * Candidates of one address that could not be reached before the race ends `E_NO_PEER` and says the address is
 * crowded: a stranger announcing a fresh port in every datagram with a seeder's source address (one forged line
 * of a LAN's UDP) keeps that seeder's claim out of the download's dictionary (its per-address cap evicts the
 * oldest), and a seeder named with --peer is asked whatever the broadcast claims.
 */
const CROWDED_AT = 8
/** Addresses whose unreachable candidates are counted (beyond it, only those already counted). */
const MAX_ADDRESSES_COUNTED = 1024

/** What a manifest race's failed requests said: the last failure, the last "not now", and unreachable candidates per address. */
export class RaceFailures {
  last: P2PError | undefined
  private forNow: P2PError | undefined
  /** By address key (addressKey): candidates that could not be reached, and an address of theirs to name. */
  private readonly unreachable = new Map<string, CrowdedAddress>()

  record(err: P2PError, addressKey: string, address: string): void {
    this.last = err
    if (failedForNow(err)) this.forNow = err
    if (err.code !== 'E_CONNECT' || address.startsWith('dht:')) return
    const seen = this.unreachable.get(addressKey)
    if (seen) seen.unreachable++
    else if (this.unreachable.size < MAX_ADDRESSES_COUNTED)
      this.unreachable.set(addressKey, { address, unreachable: 1 })
  }

  /** The error the race ends with. */
  lost(id: string): P2PError {
    let crowded: CrowdedAddress | undefined
    for (const seen of this.unreachable.values())
      if (seen.unreachable >= CROWDED_AT && seen.unreachable > (crowded?.unreachable ?? 0)) crowded = seen
    return raceLost(id, this.last, this.forNow, crowded)
  }
}
