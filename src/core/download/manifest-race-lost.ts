import { isIP } from 'node:net'
import { P2PError } from '../errors.js'
import { peerKey } from '../pool.js'
import type { TransportMode } from '../trust/trust.js'
import { otherTransportWords, type PassedOver, spokenInstead, type TransportWords } from './other-transport.js'
import type { RefusedUs } from './refused-us.js'

/** Failures that say a peer is there but could not answer now, not that the file is unknown to it. */
const FOR_NOW: ReadonlySet<string> = new Set(['E_BUSY', 'E_TIMEOUT', 'E_CONNECT', 'E_CLOSED'])

/** Whether `err` says its peer could not answer now (busy, unreachable), not that it lacks the file. */
function failedForNow(err: P2PError): boolean {
  return FOR_NOW.has(err.code)
}

/**
 * What a manifest race that ended without a manifest reports (manifest-fetch.ts). The manifest came and was
 * refused (a folder's bad paths, say): `E_BAD_MANIFEST`. Some peer that has it could not answer now (a seeder
 * at its connection limit answers `E_BUSY`; a timeout; no connection), whatever the others said: `E_NO_PEER`,
 * exit 4, run again later, naming that failure (and any refusal of our key beside it). Else, when peers that have
 * it refused our key (their allow-lists leave us out; the others said they lack it, or nothing): `E_AUTH` naming
 * them and what to do (refused-us.ts). Else, when a peer dialled answered in the other transport:
 * `E_AUTH` saying so (other-transport.ts). Else (none asked, or every one said it lacks it): `E_NOT_FOUND`, with
 * what announcements of the other transport say, if any (claims: they change no code). The failure a message names is in words only: the line
 * the CLI prints ends with the one code, its own (it read "… [E_AUTH]): is a seeder running? [E_NOT_FOUND]").
 */
function raceLost(
  id: string,
  last: P2PError | undefined,
  forNow: P2PError | undefined,
  transport: TransportWords,
  refused: RefusedUs | undefined,
  crowded?: CrowdedAddress,
): P2PError {
  // The whole id: its first 12 characters looked the same for a mistyped id as for the right one (a UX audit).
  const lost = `no peer delivered the manifest of ${id} in time`
  // A peer's own words (messages.ts, "peer: …", printable already) quoted and cut short: beside our advice they
  // must not pass for it (the whole text is in the log).
  const said = (err: P2PError): string => {
    if (!err.message.startsWith('peer: ')) return err.message
    const words = err.message.slice('peer: '.length)
    return `a peer said "${words.length > PEER_WORDS ? `${words.slice(0, PEER_WORDS)}…` : words}"`
  }
  const why = (err: P2PError | undefined) => (err ? ` (last error: ${said(err)})` : '')
  if (last?.code === 'E_BAD_MANIFEST')
    return new P2PError('E_BAD_MANIFEST', `${lost}${why(last)}: is a seeder running?`)
  if (forNow) {
    const flood = crowded
      ? `; ${crowded.unreachable >= MAX_PORTS_COUNTED ? `${MAX_PORTS_COUNTED} or more` : crowded.unreachable} ports announced at ${crowded.address} could not be reached, a flood (its source address perhaps forged) that crowds out the claims of a seeder there: allow only the seeder's peer ID (--allow) and name it (--peer: its answers to our queries are told from forged ones), or use a private swarm (--secret); or run again later`
      : '; run again later'
    return new P2PError(
      'E_NO_PEER',
      `${lost}${why(forNow)}: the peers that have it are busy or unreachable${refused?.clause() ?? ''}${flood}`,
    )
  }
  // Not "in time": the race ends on refusals once they are all there is, without waiting out its deadline. The
  // whole id, as above (the two changes met: this one said its first 12 characters).
  if (refused && refused.size > 0) return refused.error(`no peer delivered the manifest of ${id}`)
  if (transport.proven) return new P2PError('E_AUTH', `${lost}: ${transport.proven}`)
  const claimed = transport.claimed ? ` (${transport.claimed})` : ''
  return new P2PError('E_NOT_FOUND', `${lost}${why(last)}: is a seeder running?${claimed}`)
}

/** The most of a peer's own error text a lost race quotes (an honest "at its limit" says ~80 characters). */
const PEER_WORDS = 100

/** An address many of whose announced ports could not be reached. */
export interface CrowdedAddress {
  address: string
  unreachable: number
}

/** A candidate of the race as its failures are counted. */
export interface FailedCandidate {
  address: string
  port: number
  /** A share link's seeder (a DHT peer, whose `dht:` address is no IP address anyway): never the crowd's. */
  named?: boolean
}

/**
 * Distinct ports of one address that could not be reached before the race ends `E_NO_PEER` saying the address is
 * crowded: a stranger announcing a fresh port in every datagram with a seeder's source address (one forged field
 * of a LAN's UDP) keeps that seeder's claim out of the download's dictionary (its per-address cap evicts the
 * oldest). A named peer's answers say back our query's nonce and are kept apart (listener.ts `vouched`), and a
 * private swarm's datagrams cannot be forged. Ports, not attempts: one stopped seeder is asked again every second.
 */
const CROWDED_AT = 8
/** Ports counted per address (past it, the address is crowded enough) and addresses counted (past it, only those). */
const MAX_PORTS_COUNTED = 64
const MAX_ADDRESSES_COUNTED = 1024

/** An IP address, with a zone of letters, digits, `.`, `_` or `-` if any (one read from a dictionary file may be any text). */
const isIpAddress = (address: string): boolean =>
  /^[0-9A-Fa-f:.]+(%[\w.-]{1,32})?$/.test(address) && isIP(address.split('%')[0]!) !== 0

/**
 * What a manifest race's failed requests said: the last failure, the last "not now", unreachable ports per address,
 * and the peers that answered in the other transport than they announced (by candidate, up to MAX_ADDRESSES_COUNTED).
 */
export class RaceFailures {
  last: P2PError | undefined
  private forNow: P2PError | undefined
  private readonly answered = new Map<string, TransportMode>()
  /** By exact address (hosts of a LAN share their /64): the ports that could not be reached there. */
  private readonly unreachable = new Map<string, Set<number>>()

  record(err: P2PError, candidate: FailedCandidate): void {
    this.last = err
    if (failedForNow(err)) this.forNow = err
    const spoken = spokenInstead(err)
    if (spoken && this.answered.size < MAX_ADDRESSES_COUNTED) this.answered.set(peerKey(candidate), spoken)
    // Only an IP address is named (a DHT peer's `dht:<key>` is none; nor is a string a dictionary file holds).
    if (err.code !== 'E_CONNECT' || candidate.named === true || !isIpAddress(candidate.address)) return
    const ports = this.unreachable.get(candidate.address)
    if (ports) {
      if (ports.size < MAX_PORTS_COUNTED) ports.add(candidate.port)
    } else if (this.unreachable.size < MAX_ADDRESSES_COUNTED)
      this.unreachable.set(candidate.address, new Set([candidate.port]))
  }

  /**
   * The error the race ends with; `passedOver`: our transport, and the peers that have the file left out for theirs;
   * `refused`: the peers that refused our key.
   */
  lost(id: string, passedOver?: PassedOver, refused?: RefusedUs): P2PError {
    let crowded: CrowdedAddress | undefined
    for (const [address, ports] of this.unreachable)
      if (ports.size >= CROWDED_AT && ports.size > (crowded?.unreachable ?? 0))
        crowded = { address, unreachable: ports.size }
    const transport = passedOver ? otherTransportWords(passedOver, this.answered) : {}
    return raceLost(id, this.last, this.forNow, transport, refused, crowded)
  }
}
