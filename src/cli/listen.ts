import {
  createListener,
  DEFAULT_DICTIONARY_LIMITS,
  datagramGuard,
  dictionaryFileWriter,
  loadSwarmKeys,
  P2PError,
  printable,
  watchInterfaces,
} from '../index.js'
import { defineCommand, parseByteSize, parseInteger, pickSettings } from './common.js'
import { parseIds, surveyDht } from './listen-dht.js'
import { listenTable, summary } from './listing.js'
import { redraws } from './progress.js'
import { commandReach, LISTENING_REACH_SETTINGS } from './reach.js'
import { stopAll, untilAborted } from './stopping.js'

const defaults = DEFAULT_DICTIONARY_LIMITS
/** The status line or table is redrawn at most this often, and never more than a fifth of the time (a redraw that took 50 ms waits 200 ms). */
const MIN_PRINT_GAP_MS = 100

export const listenCommand = defineCommand({
  name: 'listen',
  summary: 'receive announcements, keep the content dictionary file, expire stale peers',
  settings: {
    ...LISTENING_REACH_SETTINGS,
    ...pickSettings('secret', 'secretFile', 'dht', 'bootstrap', 'dhtHost', 'dhtPort'),
    ids: {
      flag: 'id',
      valueName: '<hex,…>',
      description: 'with --dht: the files whose DHT peers to look up and dial (file ids); repeatable',
      defaultValue: undefined as string[] | undefined,
      defaultLabel: 'none',
      repeatable: true,
      parse: parseIds,
    },
    maxFiles: {
      flag: 'max-files',
      valueName: '<n>',
      description: 'files kept in the dictionary (oldest evicted)',
      defaultValue: defaults.maxFiles,
      parse: parseInteger(1, 10_000_000),
    },
    maxPeers: {
      flag: 'max-peers',
      valueName: '<n>',
      description: 'distinct peers kept (oldest evicted)',
      defaultValue: defaults.maxPeers,
      parse: parseInteger(1, 1_000_000),
    },
    maxPeersPerAddress: {
      flag: 'max-peers-per-address',
      valueName: '<n>',
      description: 'peers kept per source address (a flooding host evicts only its own)',
      defaultValue: defaults.maxPeersPerAddress,
      parse: parseInteger(1, 65535),
    },
    maxPeersPerFile: {
      flag: 'max-peers-per-file',
      valueName: '<n>',
      description: 'peers kept per file',
      defaultValue: defaults.maxPeersPerFile,
      parse: parseInteger(1, 1_000_000),
    },
    maxClaimBytes: {
      flag: 'max-claim-bytes',
      valueName: '<size>',
      description:
        "memory for peers' claims (have-set + 2 KiB + name each) in all; past it the richest source address gives up its oldest claim",
      defaultValue: defaults.maxBytes,
      defaultLabel: '32MiB',
      parse: parseByteSize(64 * 1024, 4 * 1024 ** 3),
    },
    maxClaimBytesPerAddress: {
      flag: 'max-claim-bytes-per-address',
      valueName: '<size>',
      description: 'memory for claims from one source address (a flooding host evicts only its own)',
      defaultValue: defaults.maxBytesPerAddress,
      defaultLabel: '24MiB',
      parse: parseByteSize(4 * 1024, 4 * 1024 ** 3),
    },
  },
  examples: [
    'p2p-listen',
    'p2p-listen --dictionary /tmp/lan.json --stale-after 30',
    "p2p-listen --json | jq -c 'select(.files) | .files | keys'",
    "p2p-listen --json | jq -c '.files[]? | {name, peers: [.peers[] | {address, peer, held}]}'",
    'p2p-listen --peer 10.2.0.7    # also ask a seeder behind a router',
    'P2P_SECRET=psk1-… p2p-listen          # a private swarm: only its sealed announcements are read',
    'p2p-listen --dht --bootstrap 203.0.113.7:49737 --id 3f9a…e1   # also: who the DHT offers for that file, and how each is reached',
  ],
  configure: (cmd) =>
    cmd.addHelpText(
      'after',
      "\nMode: without a secret, only open announcements are read (a private swarm shows nothing, its sealed\ndatagrams are counted as dropped); with --secret / P2P_SECRET / --secret-file, only that swarm's.\n",
    ),
  run: async ({ settings, json, log, signal, out, err }) => {
    if (settings.dht && !settings.ids?.length)
      throw new P2PError('E_USAGE', 'the DHT is looked up by file, not listened to: give --dht with --id ID[,…]')
    if (settings.ids?.length && !settings.dht)
      throw new P2PError('E_USAGE', '--id needs --dht (the LAN is heard whole)')
    const swarm = await loadSwarmKeys(settings)
    const guard = swarm ? datagramGuard({ swarm }, settings.staleAfter * 1000) : undefined
    const reach = await commandReach(settings, { log, err }, { strict: false })
    const listener = createListener(
      {
        ...(guard ? { guard } : {}),
        udpPort: settings.udpPort,
        ...reach.listenerOptions(),
        staleAfterMs: settings.staleAfter * 1000,
        limits: {
          maxFiles: settings.maxFiles,
          maxPeers: settings.maxPeers,
          maxPeersPerFile: settings.maxPeersPerFile,
          maxPeersPerAddress: settings.maxPeersPerAddress,
          maxBytes: settings.maxClaimBytes,
          maxBytesPerAddress: settings.maxClaimBytesPerAddress,
        },
      },
      { log },
    )
    const live = redraws(process.stdout) && !json
    let unwritable = false
    const file = dictionaryFileWriter(
      settings.dictionary,
      () => listener.snapshotText(),
      (failure) => {
        log.warn({ err: (failure as Error).message }, 'dictionary not written')
        // Said once where the user looks too (a directory at its path, a full disk): listening goes on.
        if (!unwritable)
          err(
            `warning: the dictionary file ${printable(settings.dictionary)} cannot be written (${(failure as NodeJS.ErrnoException).code ?? (failure as Error).message}); listening goes on`,
          )
        unwritable = true
      },
    )
    const print = latestLinePrinter()
    let timer: NodeJS.Timeout | undefined
    let publishMs = 0
    let shownDropped = 0
    const publish = (): void => {
      timer = undefined
      shownDropped = listener.stats.dropped
      const started = performance.now()
      file.request()
      const files = listener.files()
      const { dictionary } = listener
      log.info(
        {
          files: files.length,
          peers: dictionary.peerCount,
          claims: dictionary.claimCount,
          bytes: dictionary.bytes(),
          dropped: listener.stats.dropped,
          refused: dictionary.stats.refused,
          evicted: dictionary.stats.evicted,
        },
        'dictionary changed',
      )
      if (json) print(() => listener.jsonLine())
      else if (live)
        print(
          () => `\x1b[H\x1b[2J${listenTable(files, settings.dictionary, listener.stats.dropped, (a) => reach.via(a))}`,
        )
      else print(() => summary(files, dictionary.peerCount, listener.stats.droppedByReason))
      publishMs = performance.now() - started
    }
    // Debounced: a burst of datagrams is one rewrite of the file and one line, and a big dictionary under a flood is published at most a fifth of the time.
    const schedule = (): void => {
      timer ??= setTimeout(publish, Math.max(MIN_PRINT_GAP_MS, 4 * publishMs))
    }
    listener.on('change', schedule)
    // Dropped datagrams change no dictionary: the count shown (and a private swarm heard) is told once a second.
    const dropWatch = json
      ? undefined
      : setInterval(() => {
          if (listener.stats.dropped !== shownDropped) schedule()
        }, 1000).unref()
    await listener.start()
    listener.query()
    log.info({ udpPort: settings.udpPort, dictionary: settings.dictionary }, 'listening')
    if (!json)
      out(
        `Listening for ${swarm ? `private swarm ${swarm.tag}` : 'open'} announcements on UDP ${settings.udpPort}; dictionary in ${printable(settings.dictionary)} (Ctrl-C to stop)`,
      )
    publish()
    const unwatch = watchInterfaces(reach, [(r) => listener.retarget(r.listenerOptions())], { log })
    try {
      const dht = settings.dht ? await surveyDht(settings, swarm, { json, log, out, signal }) : undefined
      await untilAborted(signal)
      await dht?.done
    } finally {
      // Also when joining the DHT failed (its error is the command's): the LAN side stops, so the process ends.
      clearTimeout(timer)
      clearInterval(dropWatch)
      unwatch()
      await stopAll({ 'peer discovery': listener.stop() }, { log, err })
      await stopAll({ 'the dictionary file': file.flush() }, { log, err })
    }
    log.info({ stats: listener.stats, dictionary: listener.dictionary.stats }, 'stopped')
    // As every long-running command's --json: one object as it stops, the last line.
    if (json)
      print.last(
        JSON.stringify({ ok: true, stopped: true, stats: listener.stats, dictionary: listener.dictionary.stats }),
      )
    return 0
  },
})

/**
 * Prints a line, but while stdout is full (a slow reader) only the newest line waits, made when it can be written.
 * `last` ends it: its line is written after what is buffered, and one still waiting is dropped (it is older).
 */
function latestLinePrinter(): ((make: () => string) => void) & { last(line: string): void } {
  let blocked = false
  let ended = false
  let waiting: (() => string) | undefined
  const print = (make: () => string): void => {
    if (ended) return
    if (blocked) {
      waiting = make
      return
    }
    if (process.stdout.write(`${make()}\n`)) return
    blocked = true
    process.stdout.once('drain', () => {
      blocked = false
      const next = waiting
      waiting = undefined
      if (next) print(next)
    })
  }
  const last = (line: string): void => {
    ended = true
    waiting = undefined
    process.stdout.write(`${line}\n`)
  }
  return Object.assign(print, { last })
}
