import type { Socket } from 'node:net'
import type { DhtSession } from '../dht/session.js'
import { hasCode } from '../errors.js'
import type { Logger } from '../log.js'
import { formatPeerId } from '../trust/peer-id.js'
import { type SecureOptions, SecureSocket } from '../trust/secure-socket.js'
import { addressKey } from './admission.js'
import { allowRefusalFrame } from './allow-refusal.js'
import type { Channel } from './connection-services.js'
import { encodeFrame } from './framing.js'
import { heldBackFields, type LogGate } from './log-gate.js'
import { errorHeader } from './messages.js'
import type { ServerTally } from './server-tally.js'

/** The refusal a key the allow-list leaves out gets (the same bytes for every one: sealed per session). */
const ALLOW_REFUSAL = allowRefusalFrame()

/**
 * The transport a chunk server (chunk-server.ts) speaks over each socket it
 * accepts: the socket itself (plain), or the encrypted transport inside it;
 * and the sessions of either encrypted kind (TCP, or a DHT session), logged
 * once established, their refusals before any frame, and their failures
 * after (a record that failed), counted in the server's tally and logged
 * through its log gate (the same lines, by address, as its other
 * per-connection lines).
 */
export class ServerTransport {
  constructor(
    private readonly secure: SecureOptions | undefined,
    private readonly log: Logger,
    private readonly tally: ServerTally,
    private readonly logGate: LogGate,
    /** The frame deadline, which a record begun must meet too (a trickle of its bytes resets the idle timeout). */
    private readonly recordTimeoutMs: number,
  ) {}

  /** Whether a session that reached `key` would be let in now (an allow-list read again may list it no more). */
  admits(key: Buffer): boolean {
    return this.secure?.allow === undefined || this.secure.allow(key)
  }

  /** The socket as this server speaks over it: itself (plain), or inside the encrypted transport. */
  channel(socket: Socket): Channel {
    if (!this.secure) return socket
    const remote = `${socket.remoteAddress}:${socket.remotePort}`
    const secure = SecureSocket.accept(socket, {
      ...this.secure,
      recordTimeoutMs: this.recordTimeoutMs,
      plainRefusal: encodeFrame(
        errorHeader(
          'E_AUTH',
          'this peer speaks the encrypted transport (p2pshare 2): a plain client cannot use it; drop --transport plain',
        ),
      ),
      // A key the allow-list leaves out is told so inside its session (allow-refusal.ts), then the connection ends.
      allowRefusal: ALLOW_REFUSAL,
    })
    this.watchAuth(secure, remote, addressKey(socket.remoteAddress))
    return secure
  }

  /** A DHT session (dht-seeder.ts), named by the UDP address it came from: watched as a TCP one is. */
  watchSession(session: DhtSession): void {
    // Refused before its dialler returned the challenge, a DHT session's address is only where the engine sent
    // (a relay names it): the line says so, lest a made-up or a victim's address read as the offender.
    const remote = `dht:${session.remoteAddress}:${session.remotePort}`
    this.watchAuth(session, remote, addressKey(session.remoteAddress), `${remote} (unproven)`)
  }

  /** Logs the session once established; counts and logs its refusal (before any frame), or its failure after. */
  private watchAuth(secure: SecureSocket | DhtSession, remote: string, address: string, refusedAs = remote): void {
    // Closed for a record that failed after the handshake (altered, replayed, reordered, oversized: an attack
    // on the path, or a broken peer) is counted and said as a refusal is; a peer's own close (E_CLOSED) is
    // neither. (A DHT session's engine says only "Invalid message received" of an altered record, which
    // dht/session-checks.ts takes for E_CLOSED, as it does any of the engine's closes.) Heard from the start:
    // the session can open and fail within one segment, before `ready` settles.
    let open = false
    let closedWith: unknown
    secure.once('close', (err?: unknown) => {
      if (open) this.report(err, 'connection failed', remote, address, secure)
      else closedWith = err
    })
    void secure.ready.then(
      () => {
        open = true
        this.log.debug({ remote, peer: formatPeerId(secure.remotePublicKey!) }, 'encrypted session established')
        if (closedWith !== undefined) this.report(closedWith, 'connection failed', remote, address, secure)
      },
      // Refused before any frame: no handshake, a bad one, not in the swarm, not on the allow-list.
      (err: unknown) => this.report(err, 'connection refused', refusedAs, address, secure),
    )
  }

  /** A refusal or failure (a peer's own close, E_CLOSED, is neither): counted, and logged through the gate. */
  private report(
    err: unknown,
    what: 'connection refused' | 'connection failed',
    remote: string,
    address: string,
    secure: SecureSocket | DhtSession,
  ): void {
    if (!hasCode(err) || err.code === 'E_CLOSED') return
    if (what === 'connection refused') this.tally.counts.refusedAuth++
    this.tally.error(err.code)
    const line = this.logGate.pass(address, true)
    if (!line.log) return
    const peer = secure.remotePublicKey ? { peer: formatPeerId(secure.remotePublicKey) } : {}
    this.log.warn({ remote, code: err.code, err: err.message, ...peer, ...heldBackFields(line) }, what)
  }
}
