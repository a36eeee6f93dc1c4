import { someOf } from '../counted.js'
import { P2PError } from '../errors.js'
import { printable } from '../printable.js'
import type { TransportMode } from '../trust/trust.js'

/**
 * What a manifest race that got nothing says when the peers that have the file speak the other transport
 * (docs/protocol.md §5): it said "is a seeder running?" (E_NOT_FOUND, exit 3) of a seeder that was there, with
 * p2p-serve and p2p-announce or the download run with different `--transport`s. Said once, as E_AUTH (the code of a
 * peer speaking the other transport), with what each such peer did and the one fix.
 */

/** The peers that have a file and were passed over, never dialled, for announcing the other transport (trusted-peers.ts). */
export interface PassedOver {
  /** The transport this download speaks. */
  ours: TransportMode
  /** Their keys (address:port). */
  peers: readonly string[]
}

export const otherTransport = (t: TransportMode): TransportMode => (t === 'encrypted' ? 'plain' : 'encrypted')

/**
 * What a failed request says of the transport its peer speaks, when it is the other one than the one it announced:
 * our encrypted handshake read a plain frame (secure-handshake.ts `plain`), or a peer refused our plain request
 * with E_AUTH, which our servers send only to a plain client of an encrypted server (server-transport.ts; a plain
 * server has no allow-list nor secret to refuse with). Undefined for any other failure.
 */
export function spokenInstead(err: P2PError): TransportMode | undefined {
  if (err.code !== 'E_AUTH') return undefined
  if (err.details?.plain === true) return 'plain'
  return err.details?.peerCode === 'E_AUTH' ? 'encrypted' : undefined
}

/**
 * E_AUTH for a race `lost` ("no peer delivered the manifest of … in time") when peers that have the file were
 * passed over for their transport or answered in the other one (`answered`: key → the transport it answered in);
 * undefined when none did (the race's own error stands). Peer keys are printed escaped: one read from a
 * dictionary file may be any text.
 */
export function otherTransportError(
  lost: string,
  passedOver: PassedOver | undefined,
  answered: ReadonlyMap<string, TransportMode>,
): P2PError | undefined {
  const said: string[] = []
  if (passedOver && passedOver.peers.length > 0) {
    const { ours, peers } = passedOver
    said.push(
      `${haveIt(peers)} ${peers.length === 1 ? 'announces' : 'announce'} the ${otherTransport(ours)} transport and this download speaks the ${ours} one`,
    )
  }
  for (const theirs of ['plain', 'encrypted'] as const) {
    const peers = [...answered].flatMap(([key, t]) => (t === theirs ? [key] : []))
    if (peers.length > 0)
      said.push(
        `${haveIt(peers)} announced the ${otherTransport(theirs)} transport but ${peers.length === 1 ? 'its server speaks' : 'their servers speak'} the ${theirs} one`,
      )
  }
  if (said.length === 0) return undefined
  return new P2PError(
    'E_AUTH',
    `${lost}: ${said.join('; ')}: run every command (p2p-serve, p2p-announce, p2p-download) with the same --transport`,
  )
}

/** "the peer that has it (10.0.0.5:47010)", "3 peers that have it (a, b, c)". */
function haveIt(peers: readonly string[]): string {
  const named = someOf(peers.map((key) => printable(key, 80)))
  return peers.length === 1 ? `the peer that has it (${named})` : `${peers.length} peers that have it (${named})`
}
