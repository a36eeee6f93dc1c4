import chalk from 'chalk'
import {
  createAnnouncer,
  LARGE_BURST_GAP_MS,
  MIN_BURST_GAP_MS,
  openStore,
  P2PError,
  watchInterfaces,
} from '../index.js'
import { defineCommand, parseSeconds, pickSettings } from './common.js'
import { counted } from './format.js'
import { commandReach } from './reach.js'
import { stopAll, untilAborted } from './stopping.js'
import { announcerTrust, commandTrust, modeLine, TRUST_HELP, TRUST_SETTINGS } from './trust.js'

/**
 * On the DHT a peer's address is its key, and whoever announces a topic is dialled by that key: only the
 * process that holds the key and accepts the connections (p2p-serve) can announce there. (P2P_DHT in the
 * environment is not read here, so one exported for every command leaves announcing on the LAN alone.)
 */
const DHT_HELP =
  '\nBeyond the LAN: `p2p-serve --dht` announces each file on the DHT itself (a DHT announcement names the key\nof the process that accepts the connections); p2p-announce --dht refuses, and P2P_DHT is not read here.\n'

export const announceCommand = defineCommand({
  name: 'announce',
  summary: 'broadcast over UDP what the chunk store holds: at start, every interval, on change and when asked',
  settings: {
    ...pickSettings('chunksDir', 'port', 'udpPort', 'broadcast', 'peer', 'ipv4', 'ipv6', 'interval', 'staleAfter'),
    ...TRUST_SETTINGS,
    queryGap: {
      flag: 'min-burst-gap',
      valueName: '<seconds>',
      description: `at most one burst of announcements per this long when the store keeps changing, and at least ${LARGE_BURST_GAP_MS / 1000} s for a store announced in several datagrams (answers to queries are limited apart)`,
      defaultValue: MIN_BURST_GAP_MS / 1000,
      parse: parseSeconds(0.01, 60),
    },
  },
  examples: [
    'p2p-announce',
    'p2p-announce --port 47010 --interval 2',
    'p2p-announce --broadcast 192.168.1.255,10.8.0.255',
    'p2p-announce --broadcast 127.255.255.255    # this machine only',
    'p2p-announce --peer 10.2.0.7 --peer laptop.lan:47011    # also by unicast, across a router',
    'P2P_SECRET=psk1-… p2p-announce            # a private swarm: sealed datagrams only members can read',
  ],
  configure: (cmd) =>
    cmd
      .option('--dht [on|off]', 'not here: the DHT announcement is made by `p2p-serve --dht` (see below)')
      .addHelpText('after', `${TRUST_HELP}${DHT_HELP}`),
  run: async ({ settings, options, json, log, signal, out, err }) => {
    if (options.dht !== undefined && options.dht !== 'off')
      throw new P2PError(
        'E_USAGE',
        'p2p-announce speaks only to the LAN: run `p2p-serve --dht` to be found beyond it (the DHT announces the key of the process that accepts the connections)',
      )
    // Port 0 is a server's "any free port"; announced, it is a port no one can connect to.
    if (settings.port === 0)
      throw new P2PError('E_USAGE', '--port 0: give p2p-announce the TCP port p2p-serve listens on (it prints it)')
    const store = await openStore({ dir: settings.chunksDir }, { log })
    const trust = await commandTrust(settings, log)
    const reach = await commandReach(settings, { log, err }, { strict: false })
    const destinations = (): string[] => [...reach.broadcast, ...reach.named.map((p) => p.name)]
    const { udpPort, port } = settings
    const announcer = createAnnouncer(
      {
        store,
        udpPort,
        tcpPort: port,
        ...reach.announcerOptions(),
        intervalMs: settings.interval * 1000,
        minBurstGapMs: settings.queryGap * 1000,
        ...announcerTrust(trust, settings.staleAfter * 1000),
      },
      { log },
    )
    let lastFiles = -1
    announcer.onBurst = (report) => {
      if (json) process.stdout.write(`${JSON.stringify({ ok: true, ...report, to: destinations(), udpPort, port })}\n`)
      else if (report.files !== lastFiles)
        out(
          `Announcing ${counted(report.files, 'file')}${report.whole ? ` in ${counted(report.datagrams, 'datagram')}` : ''} to ${destinations().join(', ')} (UDP ${udpPort}), TCP port ${port}`,
        )
      lastFiles = report.files
    }
    await announcer.start()
    out(chalk.dim(`  ${modeLine(trust)}`))
    log.info({ broadcast: destinations(), udpPort, port }, 'announcing')
    const unwatch = watchInterfaces(reach, [(r) => announcer.retarget(r.announcerOptions())], { log })
    await untilAborted(signal)
    unwatch()
    const failed = await stopAll({ 'the announcer': announcer.stop({ goodbye: true }) }, { log, err })
    // As every long-running command's --json: one object as it stops.
    if (json) process.stdout.write(`${JSON.stringify({ ok: true, stopped: true, stats: announcer.stats })}\n`)
    out(chalk.dim(failed.length > 0 ? 'Stopped.' : 'Stopped (goodbye sent).'))
    return 0
  },
})
