import { isIPv4 } from 'node:net'
import {
  DEFAULT_ANNOUNCE_INTERVAL_S,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_STALE_AFTER_S,
  DEFAULT_TCP_PORT,
  DEFAULT_UDP_PORT,
  MAX_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
} from './constants.js'
import { parseBootstrap } from './dht/bootstrap.js'
import {
  type BroadcastSetting,
  LOG_LEVELS,
  type LogLevel,
  parseBroadcast,
  parseByteSize,
  parseChoice,
  parseDir,
  parseHost,
  parseInteger,
  parseList,
  parseOnOff,
  parsePeerList,
  parseSeconds,
  SettingError,
  settingText,
} from './setting-parsers.js'
import type { SettingSpec } from './setting-spec.js'
import { DEFAULT_MAX_TREE_ENTRIES } from './tree-manifest.js'

/**
 * The settings the commands share (SETTINGS), each a SettingSpec
 * (setting-spec.ts): each command picks its own from this table and adds any
 * of its own; config.ts resolves them.
 */

function spec<T>(setting: SettingSpec<T>): SettingSpec<T> {
  return setting
}

/** The settings every command shares, and those of the foundation's table. */
export const SETTINGS = {
  chunksDir: spec({
    flag: 'chunks-dir',
    valueName: '<dir>',
    description: 'chunk store',
    defaultValue: './chunks',
    parse: parseDir,
  }),
  downloadsDir: spec({
    flag: 'downloads-dir',
    valueName: '<dir>',
    description: 'where finished downloads go',
    defaultValue: './downloads',
    parse: parseDir,
  }),
  logsDir: spec({
    flag: 'logs-dir',
    valueName: '<dir>',
    description: 'JSON log files',
    defaultValue: './logs',
    parse: parseDir,
  }),
  dictionary: spec({
    flag: 'dictionary',
    valueName: '<file>',
    description: 'content dictionary file',
    defaultValue: './content_dictionary.json',
    parse: parseDir,
  }),
  host: spec({
    flag: 'host',
    valueName: '<address>',
    description:
      'address p2p-serve listens on (:: = every interface, IPv6 and IPv4; 0.0.0.0 = every IPv4 interface, announced then over IPv4 only: run p2p-announce with --ipv6 off, p2p share does so itself; a link-local address with its zone, fe80::1%eth0)',
    defaultValue: '::',
    parse: parseHost,
  }),
  port: spec({
    flag: 'port',
    valueName: '<port>',
    description: 'TCP port p2p-serve listens on (0 = any free port) and p2p-announce advertises',
    defaultValue: DEFAULT_TCP_PORT,
    parse: parseInteger(0, 65535),
  }),
  udpPort: spec({
    flag: 'udp-port',
    valueName: '<port>',
    description: 'UDP discovery port',
    defaultValue: DEFAULT_UDP_PORT,
    parse: parseInteger(1, 65535),
  }),
  broadcast: spec<BroadcastSetting>({
    flag: 'broadcast',
    valueName: '<addrs>',
    description:
      'where announcements and queries go: "auto" (every up IPv4 interface\'s subnet broadcast and the IPv6 group ff12::7032:7032 on every multicast interface), or a comma-separated list of IPv4 addresses and IPv6 groups',
    defaultValue: 'auto',
    parse: parseBroadcast,
  }),
  peer: spec<string[]>({
    flag: 'peer',
    valueName: '<host[:port]>',
    description:
      'a peer to reach by unicast where broadcast does not go (another subnet, an access point isolating clients); repeatable; the port is its UDP port',
    defaultValue: [],
    defaultLabel: 'none',
    env: 'P2P_PEERS',
    fileKey: 'peers',
    repeatable: true,
    parse: parsePeerList,
  }),
  knownPeers: spec<boolean>({
    flag: 'known-peers',
    valueName: '<on|off>',
    description:
      'remember peers that answered (known_peers.json beside the dictionary) and ask them again at start; --no-known-peers: off',
    defaultValue: true,
    defaultLabel: 'on',
    parse: parseOnOff,
  }),
  ipv4: spec<boolean>({
    flag: 'ipv4',
    valueName: '<on|off>',
    description: 'IPv4 discovery (broadcast, IPv4 peers)',
    defaultValue: true,
    defaultLabel: 'on',
    parse: parseOnOff,
  }),
  dht: spec<boolean>({
    flag: 'dht',
    valueName: '[on|off]',
    description:
      "also find and reach peers beyond the LAN through the HyperDHT (off: nothing leaves the LAN); with no --bootstrap, the engine's public bootstrap nodes",
    defaultValue: false,
    defaultLabel: 'off',
    parse: parseOnOff,
  }),
  bootstrap: spec<string[] | undefined>({
    flag: 'bootstrap',
    valueName: '<host:port,…>',
    description: "the DHT's bootstrap nodes (a private deployment's `p2p dht-node`s); repeatable",
    defaultValue: undefined,
    defaultLabel: "the engine's public nodes",
    repeatable: true,
    parse: (raw) => {
      try {
        return parseBootstrap(Array.isArray(raw) ? raw.map(String) : settingText(raw))
      } catch (err) {
        throw new SettingError((err as Error).message.replace(/^invalid bootstrap node /, ''))
      }
    },
  }),
  dhtHost: spec({
    flag: 'dht-host',
    valueName: '<address>',
    description: 'the local IPv4 address the DHT node binds',
    defaultValue: '0.0.0.0',
    parse: (raw) => {
      const value = settingText(raw)
      if (!isIPv4(value)) throw new SettingError('must be an IPv4 address')
      return value
    },
  }),
  dhtPort: spec({
    flag: 'dht-port',
    valueName: '<port>',
    description: 'the UDP port the DHT node binds (0 = any free port)',
    defaultValue: 0,
    parse: parseInteger(0, 65535),
  }),
  ipv6: spec<boolean>({
    flag: 'ipv6',
    valueName: '<on|off>',
    description: 'IPv6 discovery (the multicast group, IPv6 peers)',
    defaultValue: true,
    defaultLabel: 'on',
    parse: parseOnOff,
  }),
  interval: spec({
    flag: 'interval',
    valueName: '<seconds>',
    description: 'announce interval',
    defaultValue: DEFAULT_ANNOUNCE_INTERVAL_S,
    parse: parseSeconds(0.05, 3600),
  }),
  staleAfter: spec({
    flag: 'stale-after',
    valueName: '<seconds>',
    description: 'forget a peer not heard from for this long',
    defaultValue: DEFAULT_STALE_AFTER_S,
    parse: parseSeconds(0.1, 86400),
  }),
  maxEntries: spec({
    flag: 'max-entries',
    valueName: '<n>',
    description:
      'most files and directories a folder may hold (split refuses more; a download refuses a manifest with more)',
    defaultValue: DEFAULT_MAX_TREE_ENTRIES,
    defaultLabel: '100000',
    parse: parseInteger(1, 10_000_000),
  }),
  chunkSize: spec({
    flag: 'chunk-size',
    valueName: '<size>',
    description: 'chunk size (4KiB to 64MiB)',
    defaultValue: DEFAULT_CHUNK_SIZE,
    defaultLabel: '1MiB',
    parse: parseByteSize(MIN_CHUNK_SIZE, MAX_CHUNK_SIZE),
  }),
  directIo: spec<boolean>({
    flag: 'direct-io',
    valueName: '<on|off>',
    description:
      "write and read downloads' data past the page cache (O_DIRECT) where the filesystem allows; --no-direct-io: through it",
    defaultValue: true,
    defaultLabel: 'on',
    parse: parseOnOff,
  }),
  transport: spec<'encrypted' | 'plain'>({
    flag: 'transport',
    valueName: '<mode>',
    description:
      'encrypted (Noise handshake, peer IDs checked) or plain (the unencrypted protocol, for tools that speak only it)',
    defaultValue: 'encrypted',
    parse: parseChoice(['encrypted', 'plain'] as const),
  }),
  identity: spec({
    flag: 'identity',
    valueName: '<file>',
    description:
      "this peer's key pair (its peer ID), created on first use with mode 0600 in a directory that is there (a mistyped one is refused, E_NOT_FOUND, not made)",
    defaultValue: '',
    defaultLabel: '<chunks-dir>/.p2p/identity.key',
    parse: parseDir,
  }),
  secret: spec<string | undefined>({
    flag: 'secret',
    sameAs: 'secretFile',
    valueName: '<secret>',
    description:
      'join a private swarm: a secret from `p2p secret`, or a passphrase of 20+ characters, 8 of them different (prefer the env)',
    defaultValue: undefined,
    defaultLabel: 'none',
    parse: (raw) => settingText(raw),
  }),
  secretFile: spec<string | undefined>({
    flag: 'secret-file',
    sameAs: 'secret',
    valueName: '<file>',
    description: 'read the private swarm secret from this file (first line; mode 0600)',
    defaultValue: undefined,
    defaultLabel: 'none',
    parse: parseDir,
  }),
  allow: spec<string[]>({
    flag: 'allow',
    sameAs: 'allowFile',
    valueName: '<ids>',
    description: 'serve and download only from these peer IDs (comma-separated)',
    defaultValue: [],
    defaultLabel: 'anyone',
    parse: (raw) => parseList(raw, 'must be peer IDs, comma-separated (in a config file, a list too)'),
  }),
  allowFile: spec<string | undefined>({
    flag: 'allow-file',
    sameAs: 'allow',
    valueName: '<file>',
    description: 'peer IDs allowed, one a line (# comments); followed while serving: an edit applies within about 2 s',
    defaultValue: undefined,
    defaultLabel: 'none',
    parse: parseDir,
  }),
  handshakeTimeout: spec({
    flag: 'handshake-timeout',
    valueName: '<seconds>',
    description: 'the encrypted handshake (and swarm proof) must finish within this',
    defaultValue: 10,
    parse: parseSeconds(0.05, 600),
  }),
  logLevel: spec<LogLevel>({
    flag: 'log-level',
    valueName: '<level>',
    description: `log level (${LOG_LEVELS.join(', ')})`,
    defaultValue: 'info',
    parse: parseChoice(LOG_LEVELS),
  }),
} as const

/** Pick a subset of the shared settings by key. */
export function pickSettings<K extends keyof typeof SETTINGS>(...keys: K[]): Pick<typeof SETTINGS, K> {
  const out = {} as Pick<typeof SETTINGS, K>
  for (const k of keys) out[k] = SETTINGS[k]
  return out
}
