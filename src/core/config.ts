import { existsSync } from 'node:fs'
import { isIPv4, isIPv6 } from 'node:net'
import { resolve } from 'node:path'
import bytes from 'bytes'
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
import { P2PError } from './errors.js'
import { parseJsonUtf8 } from './json.js'
import { readRegularFileSync } from './safe-fs.js'
import { DEFAULT_MAX_TREE_ENTRIES } from './tree-manifest.js'

/**
 * Settings. Each has a default, an environment variable, a key in the JSON
 * config file and a command-line flag; precedence flag > env > file > default.
 * The env name is the flag upper-cased, dashes to underscores, prefixed P2P_
 * (--chunks-dir → P2P_CHUNKS_DIR); the file key is the flag in camelCase
 * (chunksDir). A command declares the settings it uses; anything invalid stops
 * it with one line and exit code 2 (E_USAGE).
 */

export interface SettingSpec<T> {
  /** The flag without dashes, e.g. "chunks-dir". */
  readonly flag: string
  readonly valueName: string
  readonly description: string
  readonly defaultValue: T
  /** Shown in --help; defaults to the default value. */
  readonly defaultLabel?: string
  /** Turns a raw value (string from flag/env, or JSON value from the file) into T; throws a message on error. */
  readonly parse: (raw: unknown, base: string) => T
  /** The environment variable, when not the one envName() derives (--peer reads P2P_PEERS). */
  readonly env?: string
  /** The config-file key, when not the flag in camelCase (--peer: "peers"). */
  readonly fileKey?: string
  /** The flag may be given several times; the values arrive as a list. */
  readonly repeatable?: boolean
}

export type SettingSpecs = Record<string, SettingSpec<unknown>>
export type Settings<S extends SettingSpecs> = {
  -readonly [K in keyof S]: S[K] extends SettingSpec<infer T> ? T : never
}

export const CONFIG_FILE_NAME = 'p2p.config.json'

export function envName(flag: string): string {
  return `P2P_${flag.toUpperCase().replace(/-/g, '_')}`
}

export function camelKey(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
}

export class SettingError extends Error {}

function text(raw: unknown): string {
  if (typeof raw === 'number') return String(raw)
  if (typeof raw !== 'string') throw new SettingError(`expected a string, got ${typeof raw}`)
  return raw.trim()
}

// ---- parsers, shared by every command's specs ----

export const parseDir = (raw: unknown, base: string): string => {
  const value = text(raw)
  if (value === '') throw new SettingError('must not be empty')
  return resolve(base, value)
}

export function parseInteger(min: number, max: number) {
  return (raw: unknown): number => {
    const value = text(raw)
    if (!/^-?\d+$/.test(value)) throw new SettingError(`must be a whole number from ${min} to ${max}`)
    const n = Number(value)
    if (n < min || n > max) throw new SettingError(`must be from ${min} to ${max}`)
    return n
  }
}

/** Seconds, fractions allowed (tests shrink timings to e.g. 0.2). */
export function parseSeconds(min: number, max: number) {
  return (raw: unknown): number => {
    const value = text(raw)
    if (!/^\d+(\.\d+)?$/.test(value)) throw new SettingError(`must be a number of seconds from ${min} to ${max}`)
    const n = Number(value)
    if (n < min || n > max) throw new SettingError(`must be from ${min} to ${max} seconds`)
    return n
  }
}

/**
 * A byte size: "65536", "512KiB", "4MiB", "1 GiB", "512KB". Units are binary
 * (K = 1024) whether or not written with an "i"; we normalise "KiB" to the
 * `bytes` library's "KB", which it already reads as 1024.
 */
export function parseByteSize(min: number, max: number) {
  return (raw: unknown): number => {
    const value = text(raw)
    const normalised = value.replace(/^(\d+(?:\.\d+)?)\s*([kmgtp])i?b$/i, '$1$2b')
    const n = /^\d+$/.test(value)
      ? Number(value)
      : /^\d+(\.\d+)?[kmgtp]b$/i.test(normalised)
        ? bytes.parse(normalised)
        : NaN
    if (n === null || !Number.isInteger(n)) throw new SettingError(`must be a size like 65536, 512KiB or 4MiB`)
    if (n < min || n > max)
      throw new SettingError(
        `must be from ${bytes.format(min)?.replace('B', 'iB')} to ${bytes.format(max)?.replace('B', 'iB')}`,
      )
    return n
  }
}

export function parseChoice<T extends string>(choices: readonly T[]) {
  return (raw: unknown): T => {
    const value = text(raw)
    if (!(choices as readonly string[]).includes(value)) throw new SettingError(`must be one of ${choices.join(', ')}`)
    return value as T
  }
}

export type BroadcastSetting = 'auto' | string[]

/** An IPv6 multicast group, optionally with the interface it is used on as its zone (ff12::7032:7032%eth0). */
const isGroupV6 = (address: string): boolean => {
  const at = address.indexOf('%')
  const plain = at < 0 ? address : address.slice(0, at)
  const zone = at < 0 ? '' : address.slice(at + 1)
  return isIPv6(plain) && /^ff[0-9a-f]{2}:/i.test(plain) && (at < 0 || /^[A-Za-z0-9.-]{1,15}$/.test(zone))
}

export const parseBroadcast = (raw: unknown): BroadcastSetting => {
  const value = text(raw)
  if (value === 'auto') return 'auto'
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  if (list.length === 0 || !list.every((a) => isIPv4(a) || isGroupV6(a)))
    throw new SettingError('must be "auto" or a comma-separated list of IPv4 addresses and IPv6 groups')
  return list
}

/** on/off; a negated flag (--no-known-peers) arrives as false. */
export const parseOnOff = (raw: unknown): boolean => {
  if (typeof raw === 'boolean') return raw
  const value = text(raw).toLowerCase()
  if (['on', 'true', 'yes', '1'].includes(value)) return true
  if (['off', 'false', 'no', '0'].includes(value)) return false
  throw new SettingError('must be on or off')
}

/** Peers named by the user: a list (flags given several times, the config file's array) or one comma-separated string (env). Checked in detail by named-peers.ts. */
export const parsePeerList = (raw: unknown): string[] => {
  const items = Array.isArray(raw) ? raw : [raw]
  const out: string[] = []
  for (const item of items) {
    if (typeof item !== 'string') throw new SettingError('must be a list of HOST[:PORT] strings')
    out.push(
      ...item
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    )
  }
  return out
}

export const parseHost = (raw: unknown): string => {
  const value = text(raw)
  if (!/^[0-9a-zA-Z.:\-[\]]+(%[A-Za-z0-9.-]{1,15})?$/.test(value))
    throw new SettingError('must be an IP address or host name')
  return value
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

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
      'address p2p-serve listens on (:: = every interface, IPv6 and IPv4; 0.0.0.0 = every IPv4 interface, then run p2p-announce with --ipv6 off; a link-local address with its zone, fe80::1%eth0)',
    defaultValue: '::',
    parse: parseHost,
  }),
  port: spec({
    flag: 'port',
    valueName: '<port>',
    description: 'TCP port p2p-serve listens on and p2p-announce advertises (0 = any free port)',
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
        return parseBootstrap(Array.isArray(raw) ? raw.map(String) : text(raw))
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
      const value = text(raw)
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
    description: "this peer's key pair (its peer ID), created on first use with mode 0600",
    defaultValue: '',
    defaultLabel: '<chunks-dir>/.p2p/identity.key',
    parse: parseDir,
  }),
  secret: spec<string | undefined>({
    flag: 'secret',
    valueName: '<secret>',
    description: 'join a private swarm: a secret from `p2p secret`, or a passphrase of 20+ characters (prefer the env)',
    defaultValue: undefined,
    defaultLabel: 'none',
    parse: (raw) => text(raw),
  }),
  secretFile: spec<string | undefined>({
    flag: 'secret-file',
    valueName: '<file>',
    description: 'read the private swarm secret from this file (first line; mode 0600)',
    defaultValue: undefined,
    defaultLabel: 'none',
    parse: parseDir,
  }),
  allow: spec<string[]>({
    flag: 'allow',
    valueName: '<ids>',
    description: 'serve and download only from these peer IDs (comma-separated)',
    defaultValue: [],
    defaultLabel: 'anyone',
    parse: (raw) =>
      text(raw)
        .split(',')
        .map((id) => id.trim())
        .filter((id) => id !== ''),
  }),
  allowFile: spec<string | undefined>({
    flag: 'allow-file',
    valueName: '<file>',
    description: 'peer IDs allowed, one a line (# comments)',
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

export interface ResolveOptions {
  /** Values from the command line, keyed by camelCase flag; undefined = not given. */
  flags: Record<string, unknown>
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** --config FILE, if given. */
  configFile?: string | undefined
}

const MAX_CONFIG_BYTES = 1024 * 1024

function readConfigFile(path: string): Record<string, unknown> {
  let json: unknown
  try {
    json = parseJsonUtf8(readRegularFileSync(path, { maxBytes: MAX_CONFIG_BYTES, followSymlinks: true })) // a FIFO here must not hang start-up
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message
    throw new P2PError('E_USAGE', `cannot read config file ${path}: ${reason}`)
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new P2PError('E_USAGE', `config file ${path} must hold a JSON object`)
  }
  return json as Record<string, unknown>
}

/** Resolve `specs` from flags, env, config file and defaults. Throws E_USAGE with one clear line. */
export function resolveSettings<S extends SettingSpecs>(specs: S, options: ResolveOptions): Settings<S> {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  const explicit = options.configFile ?? env.P2P_CONFIG
  const filePath = explicit !== undefined ? resolve(cwd, explicit) : resolve(cwd, CONFIG_FILE_NAME)
  const file = explicit !== undefined || existsSync(filePath) ? readConfigFile(filePath) : {}
  const known = new Set(
    Object.values(SETTINGS)
      .map((s) => s.fileKey ?? camelKey(s.flag))
      .concat(Object.values(specs).map((s) => s.fileKey ?? camelKey(s.flag))),
  )
  for (const key of Object.keys(file)) {
    if (!known.has(key)) throw new P2PError('E_USAGE', `unknown setting "${key}" in config file ${filePath}`)
  }
  const out: Record<string, unknown> = {}
  for (const [key, setting] of Object.entries(specs)) {
    const fileKey = setting.fileKey ?? camelKey(setting.flag)
    const envKey = setting.env ?? envName(setting.flag)
    const sources: Array<[unknown, string]> = [
      [options.flags[camelKey(setting.flag)], `--${setting.flag}`],
      [env[envKey], envKey],
      [Object.hasOwn(file, fileKey) ? file[fileKey] : undefined, `"${fileKey}" in ${filePath}`],
    ]
    const found = sources.find(([value]) => value !== undefined)
    if (found === undefined) {
      out[key] =
        typeof setting.defaultValue === 'string' && setting.defaultValue !== '' && setting.parse === parseDir
          ? parseDir(setting.defaultValue, cwd)
          : setting.defaultValue
      continue
    }
    try {
      out[key] = setting.parse(found[0], cwd)
    } catch (err) {
      if (!(err instanceof SettingError)) throw err
      throw new P2PError('E_USAGE', `invalid ${found[1]} value ${JSON.stringify(found[0])}: ${err.message}`)
    }
  }
  return out as Settings<S>
}

/** Pick a subset of the shared settings by key. */
export function pickSettings<K extends keyof typeof SETTINGS>(...keys: K[]): Pick<typeof SETTINGS, K> {
  const out = {} as Pick<typeof SETTINGS, K>
  for (const k of keys) out[k] = SETTINGS[k]
  return out
}
