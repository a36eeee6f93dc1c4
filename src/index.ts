/**
 * p2pshare as a library: the API every p2p command is built on, and all a
 * program needs to split, serve, announce, discover and download files on a
 * LAN, verified to the byte. docs/api.md walks through it with a runnable
 * example (examples/api.mjs).
 *
 * Factories take their options and then their collaborators (`{ log }`, a
 * pino logger; silent by default): `createChunkServer(options, { log })`.
 * Long work takes an AbortSignal; every failure is a P2PError with a stable
 * `code` (docs/errors.md). Everything a peer sends is checked before use:
 * a manifest against its id, every chunk against its SHA-256.
 */

export { DEFAULT_CHUNK_SIZE, DEFAULT_TCP_PORT, DEFAULT_UDP_PORT, MAX_MANIFEST_BYTES } from './core/constants.js'
export { createBootstrapNode, createDhtNode, type DhtSettings } from './core/dht/node.js'
export { type DhtPath, DhtSession } from './core/dht/session.js'
export {
  createDhtSurvey,
  DhtSurvey,
  MAX_SURVEY_IDS,
  type SurveyedFile,
  type SurveyedPeer,
} from './core/dht/survey.js'
export { topicOf } from './core/dht/topic.js'
// Discovery over UDP
export {
  type Announcer,
  type AnnouncerOptions,
  type BurstReport,
  createAnnouncer,
  LARGE_BURST_GAP_MS,
  type LiveHoldings,
  MIN_BURST_GAP_MS,
  RESCAN_MS,
} from './core/discovery/announcer.js'
export { DEFAULT_DICTIONARY_LIMITS, type DictionaryLimits } from './core/discovery/dictionary.js'
export {
  DICTIONARY_WRITE_GAP_MS,
  type DictionaryFileWriter,
  dictionaryFileWriter,
  writeDictionaryFile,
} from './core/discovery/dictionary-file.js'
export { type FairListing, fairListing, type ListingCost } from './core/discovery/fair-listing.js'
export { FOUND_VIA, type FoundVia } from './core/discovery/found-via.js'
export { INTERFACES_EVERY_MS, watchInterfaces } from './core/discovery/interface-watch.js'
export { type DiscoveryTargets, discoveryTargets, listInterfaces } from './core/discovery/interfaces.js'
export { KNOWN_PEERS_FILE, type KnownPeer, KnownPeers } from './core/discovery/known-peers.js'
export {
  createListener,
  type DiscoveryListener,
  type DiscoveryListenerOptions,
  type KnownFile,
  type PeerSource,
} from './core/discovery/listener.js'
export { DISCOVERY_GROUP_V6 } from './core/discovery/multicast.js'
export { type PeerTarget, parseNamedPeers } from './core/discovery/named-peers.js'
export { DiscoveryReach, type ReachSettings, resolveReach } from './core/discovery/reach.js'
export {
  formatShareLink,
  isShareLink,
  MAX_LINK_CHARS,
  parseShareLink,
  type ShareLink,
} from './core/discovery/share-link.js'
export { assertWritable } from './core/disk.js'
export { createDhtPeers, DhtPeers } from './core/download/dht-peers.js'
export {
  DEFAULT_DOWNLOAD_LIMITS,
  type DownloadLimits,
  type DownloadOptions,
  type DownloadProgress,
  type DownloadReceipt,
  download,
  type LivePeer,
  PEER_PATIENCE_MS,
  type PeerDialer,
  type PeerFinder,
  type PeerReport,
  type RefusedPeer,
  type TreeFileReceipt,
} from './core/download/downloader.js'
export { mergeFinders } from './core/download/merge-finders.js'
// Downloading
export { createPeerDirectory, type PeerDirectory, type PeerDirectoryOptions } from './core/download/peers.js'
export { type ChangeFeed, NAME_QUIET_MS, type QuietOptions, waitForQuiet } from './core/download/quiet.js'
// Errors, text from the network, logging, defaults
export { ERROR_CODES, type ErrorCode, EXIT_CODES, hasCode, P2PError } from './core/errors.js'
export {
  type ChunkPlan,
  type ItemManifest,
  type ItemSummary,
  isTree,
  parseItemManifest,
  planOf,
  summaryOf,
} from './core/item.js'
export type { Collaborators, Logger } from './core/log.js'
export { idProblem, isId, type Manifest } from './core/manifest.js'
export { mixesLookAlikeScripts, nameProblem, portableName, validateName } from './core/names.js'
export { printable } from './core/printable.js'
export type { BroadcastSetting } from './core/setting-parsers.js'
export { type SplitOptions, type SplitResult, splitFile } from './core/split.js'
// Folders: a directory tree as one item (a version-2 manifest)
export {
  isFolderResult,
  type PrivatePath,
  refusePrivatePath,
  type SplitPathOptions,
  type SplitPathResult,
  splitPath,
  statSplitPath,
} from './core/split-item.js'
export { type SplitTreeOptions, type SplitTreeResult, splitTree } from './core/split-tree.js'
// Files and the chunk store
export { type ChunkStore, type OpenStoreOptions, openStore, type StoreEntry } from './core/store.js'
// Serving chunks over TCP
export {
  type ChunkServer,
  type ChunkServerOptions,
  createChunkServer,
  DEFAULT_SERVER_LIMITS,
  type ServerLimits,
  type ServerStats,
} from './core/transfer/chunk-server.js'
export { createDhtSeeder, DhtSeeder } from './core/transfer/dht-seeder.js'
export {
  DEFAULT_MAX_TREE_ENTRIES,
  isDir,
  type TreeDir,
  type TreeEntry,
  type TreeFile,
  type TreeManifest,
} from './core/tree-manifest.js'
export { type Selection, selectEntries } from './core/tree-select.js'
// Trust: identities, the encrypted transport, private swarms, allow-lists (docs/security.md, protocol.md §5)
export { ALLOW_FILE_POLL_MS, followAllowList } from './core/trust/allow-follow.js'
export { AllowList, loadAllowList } from './core/trust/allow-list.js'
export { DatagramGuard } from './core/trust/datagram-guard.js'
export { type Identity, loadIdentity } from './core/trust/identity.js'
export { formatPeerId, normalizePeerId, parsePeerId } from './core/trust/peer-id.js'
export { DEFAULT_HANDSHAKE_TIMEOUT_MS, type SecureOptions, SecureSocket } from './core/trust/secure-socket.js'
export { generateSecret, type SwarmKeys, swarmKeysFromText } from './core/trust/swarm-secret.js'
export {
  datagramGuard,
  describeMode,
  loadSwarmKeys,
  loadSwarmSecret,
  loadTrust,
  sameSwarmSecret,
  secureOptions,
  type TransportMode,
  type Trust,
  type TrustSettings,
} from './core/trust/trust.js'
// A download and a server in one process (p2p get --seed)
export { VouchedChunks } from './core/vouched-chunks.js'
