/** Defaults and hard bounds, with their units. Every default is overridable (config.ts). */

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
export const DEFAULT_IDLE_TIMEOUT_S = 60
export const DEFAULT_MAX_IN_FLIGHT = 32
/** Chunk bytes a server holds in memory at once, across all connections (read ahead, not yet sent). */
export const DEFAULT_SERVER_BUFFER_BYTES = 128 * MiB
