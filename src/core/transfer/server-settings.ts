import type { OnViolation } from '../buffer-pool.js'
import {
  DEFAULT_FRAME_TIMEOUT_S,
  DEFAULT_IDLE_TIMEOUT_S,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_NEW_CONNECTIONS_PER_SECOND,
  DEFAULT_SERVER_BUFFER_BYTES,
} from '../constants.js'
import { P2PError } from '../errors.js'
import type { HashPace } from '../hash-pace.js'
import type { Logger } from '../log.js'
import type { ChunkStore } from '../store.js'
import type { SecureOptions } from '../trust/secure-socket.js'
import type { VouchedChunks } from '../vouched-chunks.js'
import type { UnsentBytes } from './unsent-bytes.js'
import { DEFAULT_UPLOAD_SLOT_LIMITS } from './upload-slots.js'

/** What a chunk server (chunk-server.ts) is given, the limits it keeps, and what it counts. */

export interface ServerLimits {
  maxHeaderBytes: number
  maxConnections: number
  /** Connections from one address (an IPv6 /64 counts as one) at once; the next gets E_BUSY. */
  maxConnectionsPerAddress: number
  /**
   * New connections one address may open a second, and twice that at once; past it one is closed before its
   * handshake, unanswered (an answer would cost the handshake the limit saves).
   */
  newConnectionsPerSecond: number
  idleTimeoutMs: number
  /** A frame begun must be complete within this long (slowloris). */
  frameTimeoutMs: number
  maxInFlight: number
  /**
   * Chunk bytes read ahead (not yet handed to a socket) across all connections, shared fairly;
   * also the most that answers stalled in the sockets of clients not reading may pin.
   */
  maxBufferedBytes: number
  /** Peers sent chunks at once; others asking meanwhile are told "not now" (upload-slots.ts). */
  uploadSlots: number
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxHeaderBytes: DEFAULT_MAX_HEADER_BYTES,
  maxConnections: DEFAULT_MAX_CONNECTIONS,
  maxConnectionsPerAddress: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  newConnectionsPerSecond: DEFAULT_NEW_CONNECTIONS_PER_SECOND,
  idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_S * 1000,
  frameTimeoutMs: DEFAULT_FRAME_TIMEOUT_S * 1000,
  maxInFlight: DEFAULT_MAX_IN_FLIGHT,
  maxBufferedBytes: DEFAULT_SERVER_BUFFER_BYTES,
  uploadSlots: DEFAULT_UPLOAD_SLOT_LIMITS.slots,
}

/** The limits a server keeps: `given` over the defaults, each a number of at least 1 (else E_USAGE). */
export function serverLimits(given: Partial<ServerLimits> | undefined): ServerLimits {
  const limits = { ...DEFAULT_SERVER_LIMITS, ...given }
  for (const [key, value] of Object.entries(limits)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) {
      throw new P2PError('E_USAGE', `server limit ${key} must be a number of at least 1, not ${String(value)}`)
    }
  }
  return limits
}

export interface ChunkServerOptions {
  store: ChunkStore
  host?: string
  port?: number
  limits?: Partial<ServerLimits>
  log?: Logger
  /** At most one store scan per this long. */
  rescanMs?: number
  /** When full, an idle connection gives way to a newcomer after this long idle (admission.ts; tests shorten it). */
  reclaimIdleMs?: number
  /** Also told of every ownership bug (a double release), after it is counted and logged; tests throw or collect. */
  onViolation?: OnViolation
  /** Chunk reads up to this size are synchronous (tests set 0 to put every read on libuv's pool). */
  syncReadBytes?: number
  /** The chunks a download in this process verified and wrote (vouched-chunks.ts): served without hashing them again. */
  vouched?: VouchedChunks
  /** Where chunks are hashed (hash-pace.ts; tests choose a path). */
  hashPace?: HashPace
  /**
   * The encrypted transport (docs/protocol.md §5): every connection begins with the Noise handshake (and the
   * swarm proof, the allow-list check) before a frame is read. Absent: the plain transport of §3.
   */
  secure?: SecureOptions
  /** Where connections ending ask what the kernel holds unsent for them (graceful-end.ts; tests give a fake table). */
  unsentBytes?: UnsentBytes
}

export interface ServerStats {
  connections: number
  refusedBusy: number
  /** Of refusedBusy, those refused for their address's cap. */
  refusedPerAddress: number
  /** Of refusedBusy, those closed without an answer: their address (or the server) had enough refusals still closing. */
  refusedUnanswered: number
  /** Connections closed before their handshake, unanswered: their address opened more than newConnectionsPerSecond. */
  refusedRate: number
  /** Connections closed to make room for a newcomer while the server was full: had asked nothing yet (admission.ts). */
  reclaimedSilent: number
  /** The same, idle and never given a manifest or a chunk (every answer an error). */
  reclaimedUnserved: number
  /** The same, idle, from the address holding the most connections (at least two more than the newcomer's). */
  reclaimedCrowded: number
  /** The same, idle longest (at least reclaimIdleMs). */
  reclaimedIdle: number
  requests: number
  chunksServed: number
  bytesServed: number
  errors: Record<string, number>
  corruptChunks: number
  /** Chunks hashed before serving (not already known good by their file's stamp). */
  hashedChunks: number
  /** Store scans (at start, and after the store changed). */
  scans: number
  /** Answers read ahead and given back (to be read again later) because others needed the budget. */
  readAheadReturned: number
  /** Connections closed because they had stalled longest while stalled answers pinned more than the budget. */
  evictedStalled: number
  /** Budget bytes held now (0 once every connection is gone). */
  budgetInUse: number
  /** Resources released twice (bugs, counted as E_INTERNAL too; 0). */
  violations: number
  /** Encrypted connections refused before any frame (no handshake, not in the swarm, not allowed; also in errors). */
  refusedAuth: number
  /** Chunk requests answered "not now" (E_BUSY with retryMs: every upload slot taken by other peers; also in errors). */
  notNow: number
  /** DHT sessions closed before their dialler returned the greeting's challenge, to make room (unproven-sessions.ts). */
  unprovenClosed: number
}
