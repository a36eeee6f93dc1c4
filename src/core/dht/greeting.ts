import { P2PError } from '../errors.js'
import { checkSwarmProof, PROOF_BYTES } from '../trust/swarm-secret.js'

/**
 * Outside a private swarm, the accepting side's first 8 bytes: a dialler is ready only once they came,
 * so a connection whose data path never worked fails within the connect deadline (and is dialled again)
 * instead of holding its first request until the request timeout. In a private swarm the accepting side's
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
