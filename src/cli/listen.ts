import chalk from 'chalk'
import { parseInteger, pickSettings } from '../core/config.js'
import { resolveBroadcast } from '../core/discovery/broadcast.js'
import { DEFAULT_DICTIONARY_LIMITS, type KnownFile, writeDictionaryFile } from '../core/discovery/dictionary.js'
import { DiscoveryListener } from '../core/discovery/listener.js'
import { printable } from '../core/printable.js'
import { defineCommand } from './common.js'
import { formatBytes, shortId } from './format.js'

const d = DEFAULT_DICTIONARY_LIMITS

export const listenCommand = defineCommand({
  name: 'listen',
  summary: 'receive announcements, keep the content dictionary file, expire stale peers',
  settings: {
    ...pickSettings('dictionary', 'udpPort', 'broadcast', 'staleAfter'),
    maxFiles: { flag: 'max-files', valueName: '<n>', description: 'files kept in the dictionary (oldest evicted)', defaultValue: d.maxFiles, parse: parseInteger(1, 10_000_000) },
    maxPeers: { flag: 'max-peers', valueName: '<n>', description: 'distinct peers kept (oldest evicted)', defaultValue: d.maxPeers, parse: parseInteger(1, 1_000_000) },
    maxPeersPerAddress: { flag: 'max-peers-per-address', valueName: '<n>', description: 'peers kept per source address (a flooding host evicts only its own)', defaultValue: d.maxPeersPerAddress, parse: parseInteger(1, 65535) },
    maxPeersPerFile: { flag: 'max-peers-per-file', valueName: '<n>', description: 'peers kept per file', defaultValue: d.maxPeersPerFile, parse: parseInteger(1, 1_000_000) },
  },
  examples: [
    'p2p-listen',
    'p2p-listen --dictionary /tmp/lan.json --stale-after 30',
    'p2p-listen --json | jq -c \'.files | keys\'',
  ],
  run: async ({ settings: s, json, log, signal, out }) => {
    const listener = new DiscoveryListener({
      udpPort: s.udpPort, broadcast: resolveBroadcast(s.broadcast), staleAfterMs: s.staleAfter * 1000, log,
      limits: { maxFiles: s.maxFiles, maxPeers: s.maxPeers, maxPeersPerFile: s.maxPeersPerFile, maxPeersPerAddress: s.maxPeersPerAddress },
    })
    const live = process.stdout.isTTY && !json
    let timer: NodeJS.Timeout | undefined
    let writing = Promise.resolve()
    const publish = (): void => {
      timer = undefined
      const snapshot = listener.snapshot()
      writing = writing.then(() => writeDictionaryFile(s.dictionary, snapshot)).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'dictionary not written'))
      const files = listener.files()
      log.info({ files: files.length, peers: listener.dictionary.peerCount, dropped: listener.stats.dropped }, 'dictionary changed')
      if (json) process.stdout.write(`${JSON.stringify(snapshot)}\n`)
      else if (live) process.stdout.write(`\x1b[H\x1b[2J${table(files, s.dictionary, listener.stats.dropped)}\n`)
      else out(`${files.length} file(s), ${listener.dictionary.peerCount} peer(s): ${files.map((f) => `${printable(f.name)} (${f.peers.length} peer(s))`).join(', ') || 'nothing announced'}`)
    }
    // Debounced: a burst of datagrams is one rewrite of the file.
    listener.on('change', () => { timer ??= setTimeout(publish, 100) })
    await listener.start()
    listener.query()
    log.info({ udpPort: s.udpPort, dictionary: s.dictionary }, 'listening')
    if (!json) out(`Listening for announcements on UDP ${s.udpPort}; dictionary in ${s.dictionary} (Ctrl-C to stop)`)
    publish()
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
    clearTimeout(timer)
    await listener.stop()
    await writing
    log.info({ stats: listener.stats }, 'stopped')
    return 0
  },
})

function table(files: KnownFile[], path: string, dropped: number): string {
  const rows = files.sort((a, b) => a.name.localeCompare(b.name)).map((f) => {
    const complete = f.peers.filter((p) => p.have.count() === f.chunks).length
    return `${printable(f.name, 40).padEnd(40)} ${formatBytes(f.size).padStart(10)} ${String(complete).padStart(8)} ${String(f.peers.length).padStart(5)}  ${shortId(f.id)}`
  })
  return [
    chalk.bold(`${'name'.padEnd(40)} ${'size'.padStart(10)} ${'complete'.padStart(8)} ${'peers'.padStart(5)}  id`),
    ...(rows.length ? rows : [chalk.dim('(nothing announced yet)')]),
    '',
    chalk.dim(`${new Date().toLocaleTimeString()} · ${path} · ${dropped} bad datagram(s) dropped · Ctrl-C to stop`),
  ].join('\n')
}
