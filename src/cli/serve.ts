import { isIPv4, isIPv6 } from 'node:net'
import { networkInterfaces } from 'node:os'
import chalk from 'chalk'
import {
  type ChunkServer,
  type ChunkStore,
  createChunkServer,
  createDhtSeeder,
  DEFAULT_SERVER_LIMITS,
  type DhtSeeder,
  followAllowList,
  formatShareLink,
  type Logger,
  openStore,
  P2PError,
  printable,
  type ServerLimits,
  type Trust,
} from '../index.js'
import { defineCommand, parseByteSize, parseInteger, parseSeconds, pickSettings, type Settings } from './common.js'
import { counted, formatBytes } from './format.js'
import { sayWhatIsServed } from './serving-lines.js'
import { stopAll, untilAborted } from './stopping.js'
import { commandTrust, modeLine, serverTransport, TRUST_HELP, TRUST_SETTINGS } from './trust.js'

const defaults = DEFAULT_SERVER_LIMITS
export const SERVE_SETTINGS = {
  ...pickSettings('chunksDir', 'directIo', 'host', 'port', 'dht', 'bootstrap', 'dhtHost', 'dhtPort'),
  ...TRUST_SETTINGS,
  maxHeaderBytes: {
    flag: 'max-header-bytes',
    valueName: '<size>',
    description: 'largest request header accepted',
    defaultValue: defaults.maxHeaderBytes,
    defaultLabel: '16KiB',
    parse: parseByteSize(64, 1024 * 1024),
  },
  maxConnections: {
    flag: 'max-connections',
    valueName: '<n>',
    description:
      'connections served at once; when full, one that has asked nothing yet, an idle one never served, an idle one of the most crowded address, or one idle ≥ 5 s gives way, else the next gets E_BUSY',
    defaultValue: defaults.maxConnections,
    parse: parseInteger(1, 65536),
  },
  maxConnectionsPerAddress: {
    flag: 'max-connections-per-address',
    valueName: '<n>',
    description: 'connections from one address (a global IPv6 address: its /64) at once; the next gets E_BUSY',
    defaultValue: defaults.maxConnectionsPerAddress,
    parse: parseInteger(1, 65536),
  },
  newConnectionsPerSecond: {
    flag: 'new-connections-per-second',
    valueName: '<n>',
    description:
      'new connections one address may open a second (twice that at once); past it one is closed before its handshake, unanswered',
    defaultValue: defaults.newConnectionsPerSecond,
    parse: parseInteger(1, 65536),
  },
  uploadSlots: {
    flag: 'upload-slots',
    valueName: '<n>',
    description:
      'peers sent chunks at once; while more ask, each holds a slot for a 5 s turn and the others are told "not now" (E_BUSY with retryMs) and fetch from each other meanwhile',
    defaultValue: defaults.uploadSlots,
    parse: parseInteger(1, 65536),
  },
  idleTimeout: {
    flag: 'idle-timeout',
    valueName: '<seconds>',
    description: 'close a connection idle this long',
    defaultValue: defaults.idleTimeoutMs / 1000,
    parse: parseSeconds(0.05, 86400),
  },
  frameTimeout: {
    flag: 'frame-timeout',
    valueName: '<seconds>',
    description: 'time a client has to complete a frame it began (slowloris)',
    defaultValue: defaults.frameTimeoutMs / 1000,
    parse: parseSeconds(0.05, 3600),
  },
  maxInFlight: {
    flag: 'max-in-flight',
    valueName: '<n>',
    description: 'requests in flight per connection before it stops reading',
    defaultValue: defaults.maxInFlight,
    parse: parseInteger(1, 4096),
  },
  maxBuffered: {
    flag: 'max-buffered',
    valueName: '<size>',
    description: 'chunk bytes read ahead across all connections, shared fairly between connections and addresses',
    defaultValue: defaults.maxBufferedBytes,
    defaultLabel: '128MiB',
    parse: parseByteSize(64 * 1024, 16 * 1024 ** 3),
  },
}

export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'answer chunk and manifest requests from peers over persistent TCP connections',
  settings: SERVE_SETTINGS,
  examples: [
    'p2p-serve',
    'p2p-serve --port 0 --host 127.0.0.1     # any free port, loopback only; prints it',
    'p2p-serve --chunks-dir /srv/p2p/chunks --max-connections 64 --max-connections-per-address 8',
    'P2P_SECRET=psk1-… p2p-serve             # a private swarm: only peers with the secret are served',
    'p2p-serve --transport plain              # the unencrypted protocol, for tools that speak only it',
    'p2p-serve --dht --bootstrap 203.0.113.7:49737   # also reachable beyond the LAN, through a private DHT',
  ],
  configure: (cmd) => cmd.addHelpText('after', TRUST_HELP),
  run: async ({ settings, json, log, signal, out, err }) => {
    const store = await openStore({ dir: settings.chunksDir, directIo: settings.directIo }, { log })
    const trust = await commandTrust(settings, log)
    const server = createChunkServer(
      {
        store,
        host: serveHost(settings.host),
        port: settings.port,
        limits: serverLimits(settings),
        ...serverTransport(trust),
      },
      { log },
    )
    const address = await server.listen()
    log.info({ host: address.address, port: address.port, files: server.files }, 'listening')
    // An --allow-file edited while serving takes effect: peers no longer listed are cut.
    const unfollow = trust.allow && followAllowList(trust.allow, { log, onChange: () => server.closeNotAdmitted() })
    let dht: DhtSeeder | undefined
    try {
      dht = settings.dht ? await startDhtSeeder(settings, server, store, trust, log, signal) : undefined
      if (json)
        process.stdout.write(
          `${JSON.stringify({ ok: true, host: address.address, port: address.port, files: server.files, transport: trust.transport, peerId: trust.identity.peerId, privateSwarm: trust.swarm !== undefined, dht: dht !== undefined, ...(dht ? { dhtTopics: dht.stats.topics } : {}), links: await shareLinks(store, dht && !trust.swarm ? trust.identity.peerId : undefined) })}\n`,
        )
      out(
        `${chalk.green('Serving')} ${counted(server.files, 'file')} from ${settings.chunksDir} on ${endpoint(address.address, address.port)} (Ctrl-C to stop)`,
      )
      out(chalk.dim(`  ${modeLine(trust)}`))
      if (dht)
        out(
          chalk.dim(`  DHT: announced ${counted(dht.stats.topics, 'file')} through ${dhtThrough(settings.bootstrap)}`),
        )
      if (dht && !trust.swarm) sayDhtLinks(await shareLinks(store, trust.identity.peerId), out)
      const quiet = sayWhatIsServed(server, out)
      await untilAborted(signal)
      quiet()
      out('Stopping: finishing responses in flight…')
    } finally {
      unfollow?.()
      // Also when joining the DHT or listing the store failed: a listener left open would keep the process alive.
      await stopAll({ 'the server': server.close(2000), 'the DHT': dht?.stop() }, { log, err })
    }
    log.info({ stats: server.stats, ...(dht ? { dht: dht.stats } : {}) }, 'stopped')
    out(chalk.dim(`Stopped: ${formatBytes(server.stats.bytesServed)} served.`))
    if (json)
      process.stdout.write(
        `${JSON.stringify({ ok: true, stopped: true, stats: server.stats, ...(dht ? { dht: dht.stats } : {}) })}\n`,
      )
    return 0
  },
})

/** Links shown to people, at most: --json lists them all. */
const LINKS_SHOWN = 5

/**
 * A seeder through the open DHT says its files' links, which name its key (a --dht download dials it first, where a
 * flood of strangers' keys under the topic cannot crowd it out: security.md); they were only in --json (a UX audit).
 */
export function sayDhtLinks(links: ReadonlyArray<{ name: string; link: string }>, out: (line: string) => void): void {
  if (links.length === 0) return
  out(chalk.dim('  beyond the LAN: p2p get LINK --dht'))
  for (const { name, link } of links.slice(0, LINKS_SHOWN)) out(`  ${link}  ${chalk.dim(printable(name))}`)
  if (links.length > LINKS_SHOWN) out(chalk.dim(`  and ${links.length - LINKS_SHOWN} more (--json lists them)`))
}

/**
 * The share link of every file the store holds (no secret: p2p-split --with-secret adds it on request); with
 * `seeder` (our peer ID, when we seed through the open DHT), a --dht download dials us first, by our key. Not in a
 * private swarm: its topics cannot be flooded without the secret, and a link without the secret would tie the file
 * to our lasting peer ID for nothing.
 */
export async function shareLinks(
  store: ChunkStore,
  seeder?: string,
): Promise<Array<{ id: string; name: string; link: string }>> {
  const entries = await store.scan()
  return entries.map((e) => ({ id: e.id, name: e.name, link: formatShareLink({ id: e.id, seeder }) }))
}

export const dhtThrough = (bootstrap: readonly string[] | undefined): string =>
  bootstrap ? bootstrap.join(', ') : "the engine's public bootstrap nodes"

/** --dht: the same server, also reachable by our peer ID through the DHT, announced under each file's topic. */
export async function startDhtSeeder(
  settings: { bootstrap: string[] | undefined; dhtHost: string; dhtPort: number },
  server: ChunkServer,
  store: ChunkStore,
  trust: Trust,
  log: Logger,
  signal: AbortSignal,
): Promise<DhtSeeder | undefined> {
  const seeder = createDhtSeeder(
    { server, store, trust, dht: { bootstrap: settings.bootstrap, host: settings.dhtHost, port: settings.dhtPort } },
    { log },
  )
  let started = false
  try {
    started = await seeder.start(signal)
  } finally {
    // Failed, or a Ctrl-C while it started (no DHT to report, nor a link naming our key): the caller has none to stop.
    if (!started) await seeder.stop()
  }
  return started ? seeder : undefined
}

/**
 * Where to listen: the default "::" serves IPv6 and IPv4 (dual-stack), but a
 * host with IPv6 disabled (no interface has an IPv6 address) cannot bind it,
 * so there it is 0.0.0.0; any other value is used as given.
 */
export function serveHost(host: string, interfaces = networkInterfaces()): string {
  if (host !== '::') return host
  const ipv6 = Object.values(interfaces).some((list) => (list ?? []).some((i) => i.family === 'IPv6'))
  return ipv6 ? host : '0.0.0.0'
}

/** ADDRESS:PORT, an IPv6 address in brackets ([::]:47010). */
export function endpoint(address: string, port: number): string {
  return isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`
}

/**
 * The address families a server on `host` answers: "::" both (dual-stack),
 * an IPv4 address (0.0.0.0 included) IPv4 only, another IPv6 address IPv6
 * only, a name both. Announcing on a family the server does not answer sends
 * downloaders to a port that refuses them.
 */
export function servedFamilies(host: string): { ipv4: boolean; ipv6: boolean } {
  if (host === '::' || (!isIPv4(host) && !isIPv6(host))) return { ipv4: true, ipv6: true }
  return { ipv4: isIPv4(host), ipv6: isIPv6(host) }
}

/**
 * Discovery on the families the server answers only (--host 0.0.0.0: no IPv6 announcements pointing at a
 * refused port). `given` is the --host the user gave, when serveHost chose `host` for it.
 */
export function discoveryFollowing<S extends { ipv4: boolean; ipv6: boolean }>(
  host: string,
  settings: S,
  given = host,
): S {
  const served = servedFamilies(host)
  const families = { ipv4: settings.ipv4 && served.ipv4, ipv6: settings.ipv6 && served.ipv6 }
  if (!families.ipv4 && !families.ipv6 && (settings.ipv4 || settings.ipv6)) {
    const family = served.ipv4 ? 'IPv4' : 'IPv6'
    const why =
      given === host
        ? `--host ${host} serves ${family} only`
        : `this host has no IPv6 address, so the server listens on ${host} (${family}) only`
    throw new P2PError('E_USAGE', `${why}, and discovery on ${family} is off (--${family.toLowerCase()} off)`)
  }
  return { ...settings, ...families }
}

/** The server limits the settings give (p2p-serve and p2p share). */
export function serverLimits(settings: Settings<typeof SERVE_SETTINGS>): ServerLimits {
  return {
    maxHeaderBytes: settings.maxHeaderBytes,
    maxConnections: settings.maxConnections,
    maxConnectionsPerAddress: settings.maxConnectionsPerAddress,
    newConnectionsPerSecond: settings.newConnectionsPerSecond,
    idleTimeoutMs: settings.idleTimeout * 1000,
    frameTimeoutMs: settings.frameTimeout * 1000,
    maxInFlight: settings.maxInFlight,
    maxBufferedBytes: settings.maxBuffered,
    uploadSlots: settings.uploadSlots,
  }
}
