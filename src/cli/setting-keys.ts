/**
 * The config file's keys that only some commands read (beyond the settings every command knows, core/settings.ts).
 * One p2p.config.json serves every command, so a command takes these without reading them: a download's "wait"
 * stopped p2p-serve, p2p id and p2p secret with "unknown setting" (usability pass, fifty-fourth session). A list
 * of names, not the commands' modules, so that no command loads the others' (test/unit/setting-keys.test.ts
 * keeps it equal to what the commands declare).
 */
export const COMMAND_FILE_KEYS: ReadonlySet<string> = new Set([
  'connectTimeout',
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
