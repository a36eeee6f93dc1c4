import type { ErrorCode } from '../errors.js'
import type { BudgetAccount } from './budget.js'
import type { Header } from './frame-header.js'
import type { GateAnswer } from './log-gate.js'
import type { JobServices } from './response-job.js'
import type { StalledSockets } from './stalled-sockets.js'
import type { UnsentBytes } from './unsent-bytes.js'

/**
 * What a chunk server hands each of its connections (server-connection.ts):
 * the byte stream it is served over, its limits, where it counts what it
 * did, and the services it may use, and nothing of the server itself.
 */

export interface ConnectionLimits {
  maxHeaderBytes: number
  idleTimeoutMs: number
  frameTimeoutMs: number
  maxInFlight: number
}

/** Where a connection reports what it did. */
export interface ConnectionCounters {
  request(): void
  /** An answer to a request handed to the socket (an error answer carries its code). */
  answered(header: Header, bodyBytes: number): void
  error(code: ErrorCode): void
  /** A prepared answer given back to the budget, to be prepared again later. */
  readAheadReturned(): void
}

export interface ConnectionServices extends JobServices {
  limits: ConnectionLimits
  counters: ConnectionCounters
  /** This connection's account in the server's byte budget. */
  openAccount(onReclaim: () => void): BudgetAccount
  /** Where a connection waiting for its socket to drain says so (and may be closed to free memory). */
  stalls: Pick<StalledSockets, 'stalled' | 'resumed'>
  /** Whether a warning this connection's peer caused may be logged now (the server's log gate, for its address). */
  warningGate: () => GateAnswer
  /** What the kernel still holds unsent for a TCP connection (the server's one poller: graceful-end.ts). */
  unsent: Pick<UnsentBytes, 'watch'>
}

/**
 * The byte stream a connection is served over: a net.Socket (the plain
 * transport), a SecureSocket (the encrypted one, which only delivers data
 * once its handshake, and the swarm proof if any, passed) or a DhtSession.
 * Its ends are the TCP connection's under it (undefined local ends: not
 * TCP), so that what the kernel holds unsent for it can be asked
 * (graceful-end.ts).
 */
export interface Channel {
  readonly remoteAddress?: string | undefined
  readonly remotePort?: number | undefined
  readonly localAddress?: string | undefined
  readonly localPort?: number | undefined
  /** The peer's static key, once an encrypted session is established (undefined: plain, or not yet). */
  readonly remotePublicKey?: Buffer | undefined
  /** Bytes written and not yet handed to the kernel. */
  readonly writableLength: number
  write(data: Buffer, callback?: (err?: Error | null) => void): boolean
  end(): unknown
  end(data: Buffer): unknown
  destroy(): unknown
  /**
   * Close at once and have the kernel drop what it holds unsent (a TCP reset), so that no orphaned socket keeps it.
   * Never after end(): libuv cannot reset a socket whose shutdown is pending, and Node then loses the descriptor.
   */
  resetAndDestroy(): unknown
  pause(): unknown
  resume(): unknown
  cork(): void
  uncork(): void
  on(event: 'data', listener: (data: Buffer) => void): unknown
  on(event: 'error', listener: (err: Error) => void): unknown
  on(event: 'close', listener: () => void): unknown
  /** The peer ended its half, after every byte it sent came as 'data' (a channel that never says so ends whole). */
  on(event: 'end', listener: () => void): unknown
  once(event: 'close' | 'drain', listener: () => void): unknown
  off(event: 'close' | 'drain', listener: () => void): unknown
}
