import { someOf } from '../counted.js'
import type { P2PError } from '../errors.js'
import { printable } from '../printable.js'
import { isRefusedUs } from '../transfer/allow-refusal.js'
import type { TransportMode } from '../trust/trust.js'

/**
 * What a manifest race that got nothing says when the peers that have the file speak the other transport
 * (docs/protocol.md §5): it said "is a seeder running?" (E_NOT_FOUND, exit 3) of a seeder that was there, with
 * p2p-serve and p2p-announce or the download run with different `--transport`s. A server that answered in the other
 * transport is E_AUTH (exit 4); announcements alone, which a stranger may forge, leave the race's own error and its
 * exit code as they were, with what they say added.
 */

/** The peers that have a file and were passed over, never dialled, for announcing the other transport (trusted-peers.ts). */
export interface PassedOver {
  /** The transport this download speaks. */
  ours: TransportMode
  /** Their keys (address:port). */
  peers: readonly string[]
}

const otherTransport = (t: TransportMode): TransportMode => (t === 'encrypted' ? 'plain' : 'encrypted')

/**
 * What a failed request says of the transport its peer speaks, when it is the other one than the one it announced:
 * our encrypted handshake read a plain frame (secure-handshake.ts `plain`), or a peer refused our plain request
 * with E_AUTH, which our servers send only to a plain client of an encrypted server (server-transport.ts; a plain
 * server has no allow-list nor secret to refuse with). Undefined for any other failure.
 */
export function spokenInstead(err: P2PError): TransportMode | undefined {
  // An encrypted peer's refusal of our key (allow-refusal.ts) says nothing of transports: it spoke ours.
  if (err.code !== 'E_AUTH' || isRefusedUs(err)) return undefined
  if (err.details?.plain === true) return 'plain'
  return err.details?.peerCode === 'E_AUTH' ? 'encrypted' : undefined
}

/** What a lost race says of peers that speak the other transport (otherTransportWords). */
export interface TransportWords {
  /** A peer dialled in our transport answered in the other: a server there speaks it (E_AUTH). */
  proven?: string
  /** Only announcements of the other transport, which any host can forge: a clause for the race's own error. */
  claimed?: string
}

/**
 * What to say of the peers that have the file and speak the other transport: those passed over for what they
 * announce (`passedOver`), and those that answered our dial in the other transport (`answered`: key → the
 * transport it answered in; only an answer in the other than `passedOver.ours`, the one we dial, counts: an
 * encrypted session's E_AUTH frame is no sign of a plain server, a review found). Peer keys are printed escaped: one
 * read from a dictionary file may be any text. Worded so as never to push anyone to give up encryption on a
 * stranger's word: an announcement's transport can be forged.
 */
export function otherTransportWords(
  passedOver: PassedOver,
  answered: ReadonlyMap<string, TransportMode>,
): TransportWords {
  const { ours, peers } = passedOver
  const theirs = otherTransport(ours)
  const proven = [...answered].flatMap(([key, t]) => (t === theirs ? [key] : []))
  const words: TransportWords = {}
  if (proven.length > 0)
    words.proven = `${haveIt(proven)} announced the ${ours} transport but ${proven.length === 1 ? 'its server speaks' : 'their servers speak'} the ${theirs} one: run p2p-serve, p2p-announce and p2p-download with the same --transport`
  if (peers.length > 0)
    words.claimed = `${haveIt(peers)} ${peers.length === 1 ? 'announces' : 'announce'} the ${theirs} transport, this download speaks the ${ours} one: check which --transport your seeder runs (an announcement's transport can be forged)`
  return words
}

/** "the peer that has it (10.0.0.5:47010)", "3 peers that have it (a, b, c)". */
function haveIt(peers: readonly string[]): string {
  const named = someOf(peers.map((key) => printable(key, 80)))
  return peers.length === 1 ? `the peer that has it (${named})` : `${peers.length} peers that have it (${named})`
}
