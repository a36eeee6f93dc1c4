/**
 * Defaults and hard bounds, with their units: the one home of every default
 * that more than one module uses (a setting's default, the client's and the
 * pool's, the scheduler's). Every default is overridable (config.ts for the
 * commands, options for the library); module-private tuning stays beside its
 * code.
 */

export const KiB = 1024
export const MiB = 1024 * KiB
export const GiB = 1024 * MiB

export const DEFAULT_TCP_PORT = 47010
export const DEFAULT_UDP_PORT = 47011

export const DEFAULT_CHUNK_SIZE = 1 * MiB
export const MIN_CHUNK_SIZE = 4 * KiB
export const MAX_CHUNK_SIZE = 64 * MiB

/** Longest name, in UTF-8 bytes: what Linux allows for one path component. */
export const MAX_NAME_BYTES = 255

/** Largest manifest we accept from a peer: ~480k chunks (480 GiB at 1 MiB chunks). */
export const DEFAULT_MAX_MANIFEST_BYTES = 32 * MiB
/** The most `--max-manifest-bytes` may allow: no manifest in a store is larger. */
export const MAX_MANIFEST_BYTES = 1024 * MiB

/** Chunk file names are the index zero-padded to this many digits. */
export const CHUNK_INDEX_DIGITS = 6

export const MANIFEST_FILE = 'manifest.json'
export const CHUNK_SUFFIX = '.chunk'
/** Store-private directory (peer id, locks). Names starting with it are refused. */
export const STORE_PRIVATE_DIR = '.p2p'
/** Marker in temporary file names; scanners skip any path holding it. */
export const TEMP_MARKER = '.tmp-'

export const DEFAULT_ANNOUNCE_INTERVAL_S = 5
export const DEFAULT_STALE_AFTER_S = 15
/** No UDP datagram we send is larger: fits any LAN MTU with IPv4/IPv6 and UDP headers, no fragmentation. */
export const MAX_DATAGRAM_BYTES = 1200

// Transfer (TCP) limits; each is a p2p-serve setting.
export const DEFAULT_MAX_HEADER_BYTES = 16 * KiB
export const DEFAULT_MAX_CONNECTIONS = 256
/** Connections one address may hold: a downloader opens at most 2 per seeder, so 8 downloads from one host at once; 16 hosts to fill a server. */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 16
/**
 * New connections one address may open a second (twice that at once), as a DHT seeder's firewall allows: each
 * costs the server a handshake (~1 ms of CPU), so the handshakes of one that closes and reopens as fast as it can take ~2 % of a core.
 */
export const DEFAULT_NEW_CONNECTIONS_PER_SECOND = 20
export const DEFAULT_IDLE_TIMEOUT_S = 60
/** A frame begun must be complete within this long (slowloris). */
export const DEFAULT_FRAME_TIMEOUT_S = 10
export const DEFAULT_MAX_IN_FLIGHT = 32
/** Chunk bytes a server holds in memory at once, across all connections (read ahead, not yet sent). */
export const DEFAULT_SERVER_BUFFER_BYTES = 128 * MiB

// Download (TCP client side); each is a p2p-download setting or follows from one.
/** Requests in flight to one peer at most: the pipeline window a peer earns by delivering. */
export const DEFAULT_WINDOW = 16
/** Requests in flight to a peer that has delivered nothing yet. */
export const DEFAULT_PROBE_WINDOW = 2
/** Connections to one peer: requests are pipelined, a second one hides a stalled response. */
export const DEFAULT_CONNECTIONS_PER_PEER = 2
export const DEFAULT_MAX_DOWNLOAD_CONNECTIONS = 64
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000
/** The longest any one request may take; per-peer deadlines adapt to delivery below it. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
/** How long to wait for a file to be announced, its manifest, or a peer for chunks that have none. */
export const DEFAULT_WAIT_MS = 10_000
/** How long a peer that has delivered nothing yet has for its first chunk before its requests are hedged (at least). */
export const FIRST_DELIVERY_DEADLINE_MS = 1_000
/** Chunks that fail their hash (or responses that break the protocol) before a peer is banned. */
export const DEFAULT_MAX_STRIKES = 3
/**
 * Chunk bytes a download holds in memory at once (requests in flight + chunks not yet written): 8 requests of
 * 1 MiB, many times the bandwidth-delay product of a LAN or of 200 Mbit/s at 40 ms (docs/benchmarks.md).
 */
export const DEFAULT_DOWNLOAD_BUFFER_BYTES = 8 * MiB
/** A pooled connection unused this long is closed. */
export const DEFAULT_POOL_IDLE_MS = 30_000
