/** A download's own keys (p2p-download and p2p get), and a server's (p2p-serve and p2p share). */
const DOWNLOADER = [
  'connectTimeout',
  'maxBuffered',
  'maxConnections',
  'maxManifestBytes',
  'requestTimeout',
  'uploadSlots',
  'wait',
  'window',
]
const SERVER = [
  'frameTimeout',
  'idleTimeout',
  'maxBuffered',
  'maxConnections',
  'maxConnectionsPerAddress',
  'maxHeaderBytes',
  'maxInFlight',
  'newConnectionsPerSecond',
  'uploadSlots',
]

/**
 * The config file's keys that only some commands read (beyond the settings every command knows, core/settings.ts),
 * by command. One p2p.config.json serves every command, so a command takes these without reading them: a
 * download's "wait" stopped p2p-serve, p2p id and p2p secret with "unknown setting" (usability pass, fifty-fourth
 * session); a section, though, holds its own commands' alone (SECTION_KEYS). Lists of names, not the commands'
 * modules, so that no command loads the others' (test/unit/setting-keys.test.ts keeps them equal to what the
 * commands declare).
 */
export const OWN_FILE_KEYS: Readonly<Record<string, readonly string[]>> = {
  split: [],
  announce: ['minBurstGap'],
  serve: SERVER,
  listen: [
    'id',
    'maxClaimBytes',
    'maxClaimBytesPerAddress',
    'maxFiles',
    'maxPeers',
    'maxPeersPerAddress',
    'maxPeersPerFile',
  ],
  download: DOWNLOADER,
  share: SERVER,
  get: DOWNLOADER,
  id: [],
  secret: [],
  'dht-node': ['dhtNodeHost', 'dhtNodePort'],
}

/** Every command's keys of OWN_FILE_KEYS: taken anywhere at the top level of the file. */
export const COMMAND_FILE_KEYS: ReadonlySet<string> = new Set(Object.values(OWN_FILE_KEYS).flat())

/**
 * The sections a config file may have, one a command (`"serve": {"maxConnections": 1024}`): keys for that command
 * alone, over the top-level ones, where two commands read one key for different limits (p2p-serve's and
 * p2p-download's `maxConnections` and `maxBuffered`). `p2p id` and `p2p secret` have none: "id" is a setting's key.
 */
export const CONFIG_SECTIONS: ReadonlySet<string> = new Set([
  'split',
  'announce',
  'serve',
  'listen',
  'download',
  'share',
  'get',
  'dht-node',
])

/**
 * The sections a command reads, a later one's keys over an earlier one's: `p2p get` downloads as p2p-download
 * does, and `p2p share` splits, serves and announces as those commands do, so a section for those is theirs
 * too (a reviewer: `"download": {"wait": 30}` did nothing to `p2p get`); each command's own section last.
 */
export function sectionsOf(command: string): readonly string[] {
  return SECTIONS_READ[command] ?? [command]
}

const SECTIONS_READ: Record<string, readonly string[]> = {
  get: ['download', 'get'],
  share: ['split', 'serve', 'announce', 'share'],
}

/**
 * Of COMMAND_FILE_KEYS, those each section may hold: the keys of the commands that read it (`"get": {"id": …}`,
 * p2p-listen's key, was taken and did nothing: a UX audit). The core settings, as at the top level, anywhere.
 */
export const SECTION_KEYS: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  [...CONFIG_SECTIONS].map((section) => [
    section,
    new Set(
      Object.entries(OWN_FILE_KEYS).flatMap(([command, keys]) => (sectionsOf(command).includes(section) ? keys : [])),
    ),
  ]),
)
