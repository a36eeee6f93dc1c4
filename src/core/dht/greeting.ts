import { P2PError } from '../errors.js'
import { checkSwarmProof, PROOF_BYTES } from '../trust/swarm-secret.js'

/**
 * Outside a private swarm, the accepting side's first 8 bytes: a dialler is ready only once they came,
 * so a connection whose data path never worked fails within the connect deadline (and is dialled again)
 * instead of holding its first request until the request timeout (one whose path worked and whose server
 * still said nothing is another matter: `mutedServer`). In a private swarm the accepting side's
 * proof plays this part.
 */
export const DHT_HELLO = Buffer.from('P2PDHT1\n')

/** What a DHT session waits for before its first frame: the hello, or (a private swarm) the other side's proof. */
export type Greeting = { hello: true } | { proofKey: Buffer; handshakeHash: Buffer | null; fromInitiator: boolean }

/** How many bytes the greeting takes. */
export function greetingBytes(greeting: Greeting): number {
  return 'hello' in greeting ? DHT_HELLO.byteLength : PROOF_BYTES
}

/** Why the first `greetingBytes` of `bytes` are not the greeting expected from `label`; undefined when they are. */
export function greetingRefused(greeting: Greeting, bytes: Buffer, label: string): P2PError | undefined {
  const head = bytes.subarray(0, greetingBytes(greeting))
  if ('hello' in greeting)
    return head.equals(DHT_HELLO)
      ? undefined
      : new P2PError('E_AUTH', `${label} did not greet as a p2pshare peer (another program on that key?)`)
  const { proofKey, handshakeHash, fromInitiator } = greeting
  if (handshakeHash && checkSwarmProof(proofKey, handshakeHash, fromInitiator, head)) return undefined
  return new P2PError(
    'E_AUTH',
    `${label} did not prove it holds the swarm secret (not in this private swarm, or another secret)`,
    { proof: true },
  )
}

/**
 * An honest server greets (or proves) as its side opens, in the flight that carries its stream header. So a
 * connection whose other end's bytes did reach us, that had been open this long (or 4 round trips, if longer) and
 * had not a byte of the greeting when it ended, had a server that is not answering as a p2pshare peer:
 * dht-peers.ts drops such a key at once. Our side's "open" is local (the handshake went through the DHT), so
 * bytes received, not "open", show the data path works; a path that never worked keeps its tries. Below the
 * manifest race's 1 s before a silent peer makes room, so that race's abandonments count.
 */
export const SILENT_ONCE_OPEN_MS = 500

/** A connection that ended while it waited for the greeting or proof: was its server mute (SILENT_ONCE_OPEN_MS)? */
export function mutedServer(at: {
  /** Bytes of the greeting or proof that had come. */
  greetingBytes: number
  /** How long our side had been open; undefined: it never opened. */
  openForMs: number | undefined
  /** Bytes the connection had received from the other end. */
  bytesReceived: number | undefined
  rttMs: number | undefined
}): boolean {
  if (at.greetingBytes > 0 || at.openForMs === undefined || !at.bytesReceived) return false
  return at.openForMs >= Math.max(SILENT_ONCE_OPEN_MS, 4 * (at.rttMs ?? 0))
}
