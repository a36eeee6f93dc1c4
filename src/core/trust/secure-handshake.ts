import NoiseSecretStream, { type KeyPair } from '@hyperswarm/secret-stream'
import Handshake from '@hyperswarm/secret-stream/lib/handshake.js'
import { P2PError } from '../errors.js'
import { RecordOpener, RecordSealer, sealedLength } from './records.js'
import { checkSwarmProof, PROOF_BYTES, swarmProof } from './swarm-secret.js'

/**
 * The setup of an encrypted connection (secure-socket.ts), fed its messages
 * one by one until data may flow: the Noise XX handshake of hyperswarm's
 * secret-stream (ed25519 static keys; driven by its own Handshake class, so
 * the handshake is theirs, not ours), each side's stream header (records.ts),
 * then, in a private swarm, each side's swarm proof.
 *
 * Who may connect is decided here, before a byte of data is delivered:
 *   - `handshakeTimeoutMs` bounds the whole setup (slowloris, half-open);
 *   - a handshake message over 1 KiB, or one that does not verify → E_AUTH;
 *   - a peer speaking the plain protocol (its first 3 bytes are zero: a
 *     plain frame's length prefix) → E_AUTH, after sending it `plainRefusal`;
 *   - `expectedRemoteKey` (the peer ID it announced) or `allow(key)` refuse → E_AUTH;
 *     the accepting side tells a key `allow` refuses so inside the session
 *     (`allowRefusal`: its stream header, then that one record, its last
 *     bytes), and the connecting side reads such a record where the other's
 *     swarm proof was due as what it is (`refusal`), not as a wrong secret;
 *   - with `proofKey` (a private swarm), each side's first record is its
 *     swarm proof (swarm-secret.ts), checked before anything else → E_AUTH;
 *     the accepting side sends its own only after checking the other's.
 * A refusal is thrown to the connection, which closes on it (`answered`: once
 * what this side ended with has left, at most a second later: socket-close.ts);
 * the deadline's is handed to `fail`.
 */

export interface HandshakeOptions {
  keyPair: KeyPair
  handshakeTimeoutMs?: number
  /** The remote static key this connection must reach (the peer ID it announced). */
  expectedRemoteKey?: Buffer
  /**
   * Instead, any one of these (every peer ID announced for the address and not yet refused: an address's
   * announcements can be forged, and one handshake then tells which is the one answering there).
   */
  expectedRemoteKeys?: readonly Buffer[]
  /** Whether a remote key is welcome (an allow-list); checked after the handshake. */
  allow?: (remoteKey: Buffer) => boolean
  /** A private swarm's proof key: both sides prove they hold the secret. */
  proofKey?: Buffer
  /** Bytes sent to a peer that spoke the plain protocol (a plain error frame), before closing. */
  plainRefusal?: Buffer
  /** The accepting side: the plaintext of the one record sent, sealed, to a key `allow` refuses, before closing. */
  allowRefusal?: Buffer
  /** The connecting side: the other's refusal of our key, if `plain` (a record where its swarm proof was due) is one. */
  refusal?: (plain: Buffer, remoteKey: Buffer) => P2PError | undefined
}

/** What the setup may do to its connection: no more than this. */
export interface HandshakeLink {
  readonly label: string
  readonly initiator: boolean
  /** Bytes straight onto the socket (handshake messages, the stream header). */
  write(bytes: Buffer): void
  /** The last bytes onto the socket (the plain refusal). */
  end(bytes: Buffer): void
  /** The handshake is done: whom it reached (before that key is checked, so a refusal can name it). */
  identified(remotePublicKey: Buffer, handshakeHash: Buffer): void
  /** What this side sends is sealed with `sealer` from now on (the swarm proof first). */
  keyed(sealer: RecordSealer): void
  /** Seal and send one record. */
  send(plain: Buffer): void
  /** Every check passed: records from the peer are opened with `opener`. */
  open(opener: RecordOpener): void
  fail(err: P2PError): void
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000
const MAX_HANDSHAKE_MESSAGE = 1024

/** What the next message from the peer is: a Noise handshake message, its stream header, its swarm proof. */
type Step = 'noise' | 'header' | 'proof'

export class SecureHandshake {
  private step: Step = 'noise'
  private noise: Handshake | undefined
  private handshakeHash: Buffer | undefined
  private remoteKey: Buffer | undefined
  private opener: RecordOpener | undefined
  private readonly timer: NodeJS.Timeout

  constructor(
    private readonly link: HandshakeLink,
    private readonly options: HandshakeOptions,
  ) {
    // Before the deadline's timer: a key pair Noise refuses throws here, leaving no timer behind.
    this.noise = new Handshake(link.initiator, options.keyPair, null, 'XX')
    const timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS
    this.timer = setTimeout(
      () =>
        link.fail(
          new P2PError(
            'E_AUTH',
            `no encrypted session with ${link.label} within ${timeoutMs} ms (handshake too slow or abandoned)`,
          ),
        ),
      timeoutMs,
    )
    if (link.initiator) this.sendHandshake(this.noise.send())
  }

  /** Whether the next message is a Noise handshake message (bounded by its own limit, not a record's). */
  get expectsHandshake(): boolean {
    return this.step === 'noise'
  }

  /** Throws if a handshake message of `length` bytes is not one a p2pshare peer sends. */
  checkHandshakeLength(length: number): void {
    if (length === 0) throw this.plainPeer()
    if (length > MAX_HANDSHAKE_MESSAGE)
      throw new P2PError('E_AUTH', `${this.link.label} sent a ${length}-byte handshake message (not a p2pshare peer?)`)
  }

  /** One whole message from the peer (without its length prefix). */
  receive(message: Buffer): void {
    switch (this.step) {
      case 'noise':
        this.onHandshake(message)
        return
      case 'header':
        this.onStreamHeader(message)
        return
      case 'proof':
        this.onProof(message)
        return
    }
  }

  /** The connection closed: no deadline, no handshake state left. */
  destroy(): void {
    clearTimeout(this.timer)
    this.noise?.destroy()
  }

  private plainPeer(): P2PError {
    const { label, initiator } = this.link
    const answered = !initiator && this.options.plainRefusal !== undefined
    if (answered) this.link.end(this.options.plainRefusal!)
    return new P2PError(
      'E_AUTH',
      initiator
        ? `${label} answered in the plain protocol: it runs with --transport plain (use the same transport on both peers)`
        : `${label} spoke the plain protocol to an encrypted peer (it runs with --transport plain)`,
      { plain: true, ...(answered ? { answered: true } : {}) },
    )
  }

  private onHandshake(message: Buffer): void {
    const step = this.noise!.recv(message)
    if (step === null)
      throw new P2PError(
        'E_AUTH',
        `the Noise handshake with ${this.link.label} failed (a message that does not verify)`,
      )
    this.sendHandshake(step)
  }

  private sendHandshake(step: ReturnType<Handshake['send']>): void {
    if (step === null) throw new P2PError('E_AUTH', `the Noise handshake with ${this.link.label} failed`)
    // The connecting side learns the other's key from its second message and sends its own in the third: it
    // checks first, so our peer ID never goes to whoever answers at an announced address in its place.
    if (step.remotePublicKey && step.hash) this.link.identified(step.remotePublicKey, step.hash)
    if (step.remotePublicKey) this.checkRemoteKey(step)
    if (step.data) this.link.write(step.data)
    if (!step.tx || !step.rx || !step.hash || !step.remotePublicKey) return
    const initiator = this.link.initiator
    this.noise = undefined
    this.handshakeHash = step.hash
    const sealer = new RecordSealer(step.tx, NoiseSecretStream.id(step.hash, initiator))
    this.opener = new RecordOpener(step.rx, NoiseSecretStream.id(step.hash, !initiator))
    this.link.keyed(sealer)
    this.link.write(sealer.streamHeader)
    // The connecting side proves first; the accepting side only after checking that proof, so a
    // stranger gets nothing from it but the handshake.
    if (this.options.proofKey && initiator) this.sendProof()
    this.step = 'header'
  }

  private checkRemoteKey(step: NonNullable<ReturnType<Handshake['send']>>): void {
    const key = step.remotePublicKey!
    this.remoteKey = key
    const { expectedRemoteKey, expectedRemoteKeys } = this.options
    const expected = expectedRemoteKeys ?? (expectedRemoteKey ? [expectedRemoteKey] : undefined)
    if (expected && !expected.some((k) => k.equals(key)))
      throw new P2PError(
        'E_AUTH',
        `${this.link.label} holds another key than any peer ID announced for it (someone answering in its place?)`,
        { keyMismatch: true },
      )
    if (this.options.allow && !this.options.allow(key)) {
      const answered = this.refuseInSession(step)
      throw new P2PError('E_AUTH', `${this.link.label} is not on the allow-list`, {
        notAllowed: true,
        ...(answered ? { answered: true } : {}),
      })
    }
  }

  /**
   * The accepting side tells a key its allow-list refuses so (`allowRefusal`), sealed for that session alone: its
   * stream header and the one record, in one write, and its half of the connection ends. Nothing is read from the
   * peer for it, nor waited for: the connection closes as any refusal does. The peer already knows the handshake
   * passed (it has our key); what this adds is why it ends (security.md, Allow-list).
   */
  private refuseInSession(step: NonNullable<ReturnType<Handshake['send']>>): boolean {
    const { allowRefusal } = this.options
    if (this.link.initiator || !allowRefusal || !step.tx || !step.hash) return false
    const sealer = new RecordSealer(step.tx, NoiseSecretStream.id(step.hash, false))
    const record = Buffer.allocUnsafe(sealedLength(allowRefusal.byteLength))
    sealer.sealInto(allowRefusal, record)
    this.link.end(Buffer.concat([sealer.streamHeader, record]))
    return true
  }

  private onStreamHeader(message: Buffer): void {
    this.opener!.start(message)
    if (this.options.proofKey) this.step = 'proof'
    else this.open()
  }

  private onProof(record: Buffer): void {
    const length = this.opener!.openInto(record, record.subarray(1))
    if (
      length !== PROOF_BYTES ||
      !checkSwarmProof(
        this.options.proofKey!,
        this.handshakeHash!,
        !this.link.initiator,
        record.subarray(1, 1 + length),
      )
    ) {
      // An accepting side whose allow-list refuses our key says so where its proof was due: not a wrong secret.
      const refused = this.link.initiator
        ? this.options.refusal?.(record.subarray(1, 1 + length), this.remoteKey!)
        : undefined
      throw (
        refused ??
        new P2PError(
          'E_AUTH',
          `${this.link.label} did not prove it holds the swarm secret (not in this private swarm, or another secret)`,
          { proof: true },
        )
      )
    }
    if (!this.link.initiator) this.sendProof()
    this.open()
  }

  private sendProof(): void {
    this.link.send(swarmProof(this.options.proofKey!, this.handshakeHash!, this.link.initiator))
  }

  private open(): void {
    clearTimeout(this.timer)
    this.link.open(this.opener!)
  }
}
