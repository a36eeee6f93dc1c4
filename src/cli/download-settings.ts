import type { Command } from 'commander'
import { DEFAULT_DOWNLOAD_LIMITS, MAX_MANIFEST_BYTES, NAME_QUIET_MS } from '../index.js'
import { parseByteSize, parseInteger, parseSeconds, pickSettings } from './common.js'
import { LISTENING_REACH_SETTINGS } from './reach.js'
import { SEED_SETTINGS } from './seed.js'
import { TRUST_HELP, TRUST_SETTINGS } from './trust.js'

/** p2p-download's and p2p get's settings and flags (the command itself: download.ts). */

const defaults = DEFAULT_DOWNLOAD_LIMITS
export const DOWNLOAD_SETTINGS = {
  ...pickSettings('chunksDir', 'downloadsDir', 'directIo'),
  ...LISTENING_REACH_SETTINGS,
  ...pickSettings('maxEntries', 'dht', 'bootstrap', 'dhtHost', 'dhtPort'),
  ...TRUST_SETTINGS,
  ...SEED_SETTINGS,
  wait: {
    flag: 'wait',
    valueName: '<seconds>',
    description: `how long to wait for the file to be announced (a name is decided once no other file of that name has answered for ${NAME_QUIET_MS / 1000} s; the first to answer is fetched meanwhile, and takes its final name only then) and its manifest to arrive (one still arriving at 1 MiB/s or faster is let finish), and for a peer when some chunks have none (a peer that went silent counts as gone only after --stale-after); from 0.05 to 86400`,
    defaultValue: defaults.waitMs / 1000,
    // Not 0: nothing is heard in no time, so a download by name failed at once with "no peer announced" and one by
    // id worked only when the store held the file already, as it does as fast with any wait (a UX audit).
    parse: parseSeconds(0.05, 86400),
  },
  window: {
    flag: 'window',
    valueName: '<n>',
    description: 'requests in flight per peer at most (pipeline depth; a peer earns it by delivering)',
    defaultValue: defaults.window,
    parse: parseInteger(1, 256),
  },
  maxConnections: {
    flag: 'max-connections',
    valueName: '<n>',
    description: 'TCP connections in total',
    defaultValue: defaults.maxConnections,
    parse: parseInteger(1, 4096),
  },
  connectTimeout: {
    flag: 'connect-timeout',
    valueName: '<seconds>',
    description: 'TCP connect timeout',
    defaultValue: defaults.connectTimeoutMs / 1000,
    parse: parseSeconds(0.05, 600),
  },
  requestTimeout: {
    flag: 'request-timeout',
    valueName: '<seconds>',
    description: "the longest a peer may take to deliver a chunk (deadlines adapt to each peer's delivery below it)",
    defaultValue: defaults.requestTimeoutMs / 1000,
    parse: parseSeconds(0.05, 3600),
  },
  maxBuffered: {
    flag: 'max-buffered',
    valueName: '<size>',
    description:
      'chunk bytes in memory at once (requests in flight and chunks not yet written; a chunk that arrives ahead of the whole-file hash is read back from the store, not held)',
    defaultValue: defaults.maxBufferedBytes,
    defaultLabel: '8MiB',
    parse: parseByteSize(64 * 1024, 4 * 1024 ** 3),
  },
  maxManifestBytes: {
    flag: 'max-manifest-bytes',
    valueName: '<size>',
    description: 'largest manifest accepted from a peer',
    defaultValue: defaults.maxManifestBytes,
    defaultLabel: '32MiB',
    parse: parseByteSize(1024, MAX_MANIFEST_BYTES),
  },
}

/** The flags p2p-download and p2p get add to their settings. */
export function downloadOptions(cmd: Command): Command {
  return cmd
    .option(
      '--id <hex>',
      'download this exact file id (64 hex characters), no name lookup (a name given beside it that is not its file\'s is warned of: on stderr, and with --json in the receipt\'s "warnings")',
    )
    .option(
      '--force',
      'replace a different existing file of the same name instead of saving as "name (1)" (a folder is never replaced: yours may hold more)',
    )
    .option(
      '--seed',
      'serve and announce the chunk store from this process while downloading, and go on after it until Ctrl-C (p2p-serve and p2p-announce in one, on the LAN: `p2p-serve --dht` seeds beyond it)',
    )
    .option(
      '--only <glob>',
      'a folder: fetch only the paths this glob matches (repeatable; as .gitignore: one with no "/" is a name at any depth, *.jpg; one with a "/", or starting with "/", a path from the top, raw/**, /*.jpg; a directory brings what it holds; a later download of the folder adds what was left out)',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .addHelpText('after', TRUST_HELP)
}
