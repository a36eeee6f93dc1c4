import { join } from 'node:path'
import { configFilePath, resolveSettings } from './config.js'
import { SETTINGS } from './settings.js'
import type { PrivatePath } from './split-item.js'

/**
 * The log directory (none at level silent: nothing is written there), the config file in use, the identity
 * (the one named, else the store's own, which serving commands use: a hard link to it was shared, the last
 * attack of the fifty-first session), and the swarm secret and allow-list files the flags, environment or config
 * name (whether this command reads them or not: `p2p-split` of a folder holding the identity `p2p-serve` then
 * uses shared the key as well).
 */
export function commandPrivatePaths(
  logsDir: string,
  logLevel: string,
  options: Record<string, unknown>,
  /** The config file's sections, and the command's (config.ts): its trust files may be named in its own. */
  sections: { sections: ReadonlySet<string>; command: string | readonly string[] },
): PrivatePath[] {
  const configFile = options.config as string | undefined
  // The command's own read of the file checked its keys.
  const fileKeys = { otherKeys: new Set<string>(), ...sections }
  const trust = resolveSettings(TRUST_FILES, { flags: options, configFile, fileKeys, checkKeys: false })
  const identity = trust.identity || join(trust.chunksDir, '.p2p', 'identity.key')
  const named = (path: string | undefined, what: string, flag: string, made = false): PrivatePath[] =>
    path ? [{ path, what, flag, made }] : []
  return [
    ...(logLevel === 'silent' ? [] : [{ path: logsDir, what: 'the log directory', flag: '--logs-dir', made: true }]),
    { path: configFilePath({ configFile }).path, what: 'the config file', flag: '--config' },
    ...named(identity, 'the identity file', '--identity', true),
    ...named(trust.secretFile, 'the swarm secret file', '--secret-file'),
    ...named(trust.allowFile, 'the allow-list file', '--allow-file'),
  ]
}

const TRUST_FILES = {
  identity: SETTINGS.identity,
  secretFile: SETTINGS.secretFile,
  allowFile: SETTINGS.allowFile,
  chunksDir: SETTINGS.chunksDir,
}
