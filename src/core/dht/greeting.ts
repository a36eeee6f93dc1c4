import { randomBytes, timingSafeEqual } from 'node:crypto'
import { P2PError } from '../errors.js'
import { checkSwarmProof, PROOF_BYTES, swarmProof } from '../trust/swarm-secret.js'

/**
 * Outside a private swarm, the accepting side's greeting starts with these 8 bytes: a dialler is ready only once
 * they came, so a connection whose data path never worked fails within the connect deadline (and is dialled again)
 * instead of holding its first request until the request timeout (one whose path worked and whose server still said
 * nothing is another matter: `mutedServer`). In a private swarm the accepting side's proof plays this part.
 */
export const DHT_HELLO = Buffer.from('P2PDHT2\n')
/** The greeting of a p2pshare from before the challenge (fifty-fourth session): named in the refusal, not taken. */
const OLDER_HELLO = Buffer.from('P2PDHT1\n')

/**
 * The accepting side's greeting ends with this many random bytes, which the dialler's first bytes must repeat
 * before a frame of it is read. A DHT node that relays a handshake names the dialler's address, and the engine
 * sends there whatever address was named; the engine's stream also takes a packet from any address. So a hostile
 * relay that finished a handshake itself could send requests from its own address and have the answers go to
 * one it named (fifty-third session's attacker: 552 KB in 30 s to an address that asked for nothing), or stand in
 * the upload line under made-up addresses. Only who receives at the address the stream sends to sees the
 * challenge (inside the encrypted stream, which the relay is not on the path of).
 */
export const CHALLENGE_BYTES = 16

/** What each side does before its first frame; `random` is injected for tests. */
export interface GreetingOptions {
  initiator: boolean
  /** A private swarm's proof key: each side proves it holds the secret, the dialler first (protocol §5). */
  proofKey?: Buffer | undefined
  /** This connection's handshake hash (a proof is bound to it). */
  handshakeHash: () => Buffer | null
  label: string
  random?: (bytes: number) => Buffer
}

/** What the bytes taken so far call for: bytes to write (in order), then the frames' start once done, or a refusal. */
export type GreetingStep = { write: Buffer[]; done?: Buffer; refused?: P2PError }

type Expecting = 'hello' | 'dialler-proof' | 'acceptor-proof' | 'echo'

/**
 * The exchange of protocol §6.4 before a DHT session's frames:
 *   - the dialler waits for the accepting side's greeting (`DHT_HELLO`, or in a private swarm its proof, after the
 *     dialler's own), then the challenge; it writes the challenge back ahead of its first frame (no round trip
 *     added: it waited for the greeting anyway);
 *   - the accepting side reads no frame before the challenge came back.
 */
export class GreetingExchange {
  private expecting: Expecting
  private held: Buffer[] = []
  private heldLength = 0
  private challenge: Buffer | undefined
  private heardBytes = 0

  constructor(private readonly options: GreetingOptions) {
    if (options.proofKey) this.expecting = options.initiator ? 'acceptor-proof' : 'dialler-proof'
    else this.expecting = options.initiator ? 'hello' : 'echo'
  }

  /** Bytes of the other side's greeting, proof or echo taken so far. */
  get heard(): number {
    return this.heardBytes
  }

  /**
   * Why the greeting stalls, when that can be told: a private swarm's seeder whose proof came, good, and no challenge
   * after it runs a p2pshare from before the challenge (it waits for frames; we wait for the challenge).
   */
  stalled(): string | undefined {
    if (this.expecting !== 'acceptor-proof' || this.heldLength !== PROOF_BYTES) return undefined
    const proof = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held)
    if (!this.proofHolds(proof, false)) return undefined
    return `${this.options.label} proved the swarm secret and sent no challenge after it: it runs an older p2pshare, update it`
  }

  /** Bytes held toward the greeting. */
  get heldBytes(): number {
    return this.heldLength
  }

  /** Lets go of what is held (the session closed). */
  clear(): void {
    this.held = []
    this.heldLength = 0
  }

  /** What to write as the stream opens. */
  start(): Buffer[] {
    const { proofKey, initiator } = this.options
    if (proofKey) return initiator ? [this.proof()] : []
    return initiator ? [] : [Buffer.concat([DHT_HELLO, this.newChallenge()])]
  }

  take(bytes: Buffer): GreetingStep {
    this.held.push(bytes)
    this.heldLength += bytes.byteLength
    this.heardBytes += bytes.byteLength
    const write: Buffer[] = []
    for (;;) {
      const need = this.needed()
      const all = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held)
      this.held = [all]
      const refused = this.earlyRefusal(all)
      if (refused) return { write, refused }
      if (all.byteLength < need) return { write }
      const head = all.subarray(0, need)
      const rest = all.subarray(need)
      this.held = []
      this.heldLength = 0
      const step = this.complete(head)
      if (step.refused) return { write, refused: step.refused }
      write.push(...step.write)
      if (step.done) return { write, done: rest }
      this.held = [rest]
      this.heldLength = rest.byteLength
    }
  }

  private needed(): number {
    switch (this.expecting) {
      case 'hello':
        return DHT_HELLO.byteLength + CHALLENGE_BYTES
      case 'acceptor-proof':
        return PROOF_BYTES + CHALLENGE_BYTES
      case 'dialler-proof':
        return PROOF_BYTES
      case 'echo':
        return CHALLENGE_BYTES
    }
  }

  /** A wrong hello is refused at its 8th byte, not after waiting for a challenge that will not come. */
  private earlyRefusal(all: Buffer): P2PError | undefined {
    if (this.expecting !== 'hello' || all.byteLength < DHT_HELLO.byteLength) return undefined
    const magic = all.subarray(0, DHT_HELLO.byteLength)
    if (magic.equals(DHT_HELLO)) return undefined
    if (magic.equals(OLDER_HELLO))
      return new P2PError(
        'E_AUTH',
        `${this.options.label} runs an older p2pshare (greeting ${OLDER_HELLO.toString().trim()}): update it`,
      )
    return new P2PError(
      'E_AUTH',
      `${this.options.label} did not greet as a p2pshare peer (another program on that key?)`,
    )
  }

  private complete(head: Buffer): GreetingStep {
    switch (this.expecting) {
      case 'hello':
        return { write: [head.subarray(DHT_HELLO.byteLength)], done: Buffer.alloc(0) }
      case 'acceptor-proof':
        if (!this.proofHolds(head.subarray(0, PROOF_BYTES), false)) return { write: [], refused: this.noProof() }
        return { write: [head.subarray(PROOF_BYTES)], done: Buffer.alloc(0) }
      case 'dialler-proof':
        if (!this.proofHolds(head, true)) return { write: [], refused: this.noProof() }
        this.expecting = 'echo'
        return { write: [Buffer.concat([this.proof(), this.newChallenge()])] }
      case 'echo':
        if (this.challenge && timingSafeEqual(head, this.challenge)) return { write: [], done: Buffer.alloc(0) }
        return {
          write: [],
          refused: new P2PError(
            'E_AUTH',
            `${this.options.label} did not return our greeting's challenge (an older p2pshare, or not at the address it was named at)`,
          ),
        }
    }
  }

  private newChallenge(): Buffer {
    this.challenge = (this.options.random ?? randomBytes)(CHALLENGE_BYTES)
    return this.challenge
  }

  private proof(): Buffer {
    return swarmProof(this.options.proofKey!, this.options.handshakeHash()!, this.options.initiator)
  }

  private proofHolds(proof: Buffer, fromInitiator: boolean): boolean {
    const hash = this.options.handshakeHash()
    return hash !== null && checkSwarmProof(this.options.proofKey!, hash, fromInitiator, proof)
  }

  private noProof(): P2PError {
    return new P2PError(
      'E_AUTH',
      `${this.options.label} did not prove it holds the swarm secret (not in this private swarm, or another secret)`,
      { proof: true },
    )
  }
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
