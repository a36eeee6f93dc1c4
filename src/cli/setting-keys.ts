/**
 * The config file's keys that only some commands read (beyond the settings every command knows, core/settings.ts).
 * One p2p.config.json serves every command, so a command takes these without reading them: a download's "wait"
 * stopped p2p-serve, p2p id and p2p secret with "unknown setting" (usability pass, fifty-fourth session). A list
 * of names, not the commands' modules, so that no command loads the others' (test/unit/setting-keys.test.ts
 * keeps it equal to what the commands declare).
 */
export const COMMAND_FILE_KEYS: ReadonlySet<string> = new Set([
  'connectTimeout',
  'dhtNodeHost',
  'dhtNodePort',
  'frameTimeout',
  'id',
  'idleTimeout',
  'maxBuffered',
  'maxClaimBytes',
  'maxClaimBytesPerAddress',
  'maxConnections',
  'maxConnectionsPerAddress',
  'maxFiles',
  'maxHeaderBytes',
  'maxInFlight',
  'maxManifestBytes',
  'maxPeers',
  'maxPeersPerAddress',
  'maxPeersPerFile',
  'minBurstGap',
  'newConnectionsPerSecond',
  'requestTimeout',
  'uploadSlots',
  'wait',
  'window',
])

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
