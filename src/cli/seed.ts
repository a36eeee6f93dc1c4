import chalk from 'chalk'
import {
  type Announcer,
  type ChunkServer,
  type ChunkStore,
  createAnnouncer,
  createChunkServer,
  type DiscoveryReach,
  followAllowList,
  type Logger,
  type ServerLimits,
  type Trust,
  VouchedChunks,
  watchInterfaces,
} from '../index.js'
import type { NameGate } from './by-name.js'
import { type CommandContext, pickSettings, type Settings } from './common.js'
import { formatBytes } from './format.js'
import { endpoint, SERVE_SETTINGS } from './serve.js'
import { sayWhatIsServed } from './serving-lines.js'
import { stopAll, untilAborted } from './stopping.js'
import { announcerTrust, serverTransport } from './trust.js'

/**
 * `p2p-download --seed` (and `p2p get --seed`): p2p-serve and p2p-announce on
 * the download's own chunk store, in the download's process, from before its
 * first chunk until Ctrl-C: one command per machine of a swarm. Chunks are
 * offered as they are written, as a separate p2p-serve offers them, and the
 * server takes the download's check of a chunk for its own
 * (vouched-chunks.ts) instead of hashing it again before its first serve.
 * (One process instead of three spends 7–19 % less CPU in a swarm: docs/benchmarks.md.)
 * Only the serving settings that do not clash with the download's own are
 * offered here; the server's other limits are p2p-serve's defaults.
 */
const { host, port, interval } = pickSettings('host', 'port', 'interval')
export const SEED_SETTINGS = {
  host: {
    ...host,
    description:
      'with --seed: the address to serve on (:: = every interface, IPv6 and IPv4; 0.0.0.0 = IPv4 only, and announced on IPv4 only)',
  },
  port: { ...port, description: 'with --seed: the TCP port to serve on and announce (0 = any free port)' },
  interval: { ...interval, description: 'with --seed: the announce interval' },
  uploadSlots: { ...SERVE_SETTINGS.uploadSlots, description: `with --seed: ${SERVE_SETTINGS.uploadSlots.description}` },
}

type SeedSettings = Settings<typeof SEED_SETTINGS> & { staleAfter: number; udpPort: number }

/** A chunk server listening and an announcer announcing its port, on one store; the caller owns the one `stop`. */
export interface Serving {
  readonly server: ChunkServer
  readonly announcer: Announcer
  readonly address: { address: string; port: number }
  /** Says goodbye to the LAN and lets the responses in flight finish (2 s at most); once, whoever calls it again. */
  stop(): Promise<void>
}

/** p2p share's and --seed's server and announcer; nothing is left listening when this rejects. */
export async function serveAndAnnounce(
  options: {
    store: ChunkStore
    trust: Trust
    reach: DiscoveryReach
    host: string
    limits: Partial<ServerLimits>
    vouched?: VouchedChunks
    /** Whether bursts for changes also go to the IPv6 groups (AnnouncerOptions.changesOverIpv6); default always. */
    changesOverIpv6?: () => boolean
    /** The port to serve on, the UDP port to announce on, the interval and --stale-after, in seconds. */
    settings: { port: number; udpPort: number; interval: number; staleAfter: number }
  },
  log: Logger,
): Promise<Serving> {
  const { store, trust, settings } = options
  const server = createChunkServer(
    {
      store,
      host: options.host,
      port: settings.port,
      limits: options.limits,
      ...(options.vouched ? { vouched: options.vouched } : {}),
      ...serverTransport(trust),
    },
    { log },
  )
  const address = await server.listen()
  const announcer = createAnnouncer(
    {
      store,
      udpPort: settings.udpPort,
      tcpPort: address.port,
      ...options.reach.announcerOptions(),
      intervalMs: settings.interval * 1000,
      ...announcerTrust(trust, settings.staleAfter * 1000),
      ...(options.vouched ? { live: options.vouched } : {}),
      ...(options.changesOverIpv6 ? { changesOverIpv6: options.changesOverIpv6 } : {}),
    },
    { log },
  )
  try {
    await announcer.start()
  } catch (error) {
    await server.close(0)
    throw error
  }
  const unwatch = watchInterfaces(options.reach, [(r) => announcer.retarget(r.announcerOptions())], { log })
  const unfollow = trust.allow && followAllowList(trust.allow, { log, onChange: () => server.closeNotAdmitted() })
  let stopped: Promise<void> | undefined
  return {
    server,
    announcer,
    address,
    stop: () => {
      stopped ??= (async () => {
        unwatch()
        unfollow?.()
        try {
          await announcer.stop({ goodbye: true })
        } finally {
          await server.close(2000) // a listener left open would keep the process alive
        }
      })()
      return stopped
    },
  }
}

export interface Seeding extends Serving {
  /** What the download hands the server: the chunks it verified. */
  readonly vouched: VouchedChunks
}

/**
 * --seed: serving (on `host`, as serveHost gives it) and announcing the download's store once this resolves.
 * `hearsIpv6OnlyPeer`: the download's own listener's view; while no peer is heard over IPv6 alone, bursts for
 * changes go over IPv4 only (every dual-stack peer heard each of them twice: ~5 % of a 16-host round's CPU).
 */
export async function startSeeding(
  settings: SeedSettings,
  host: string,
  store: ChunkStore,
  trust: Trust,
  reach: DiscoveryReach,
  log: Logger,
  hearsIpv6OnlyPeer?: () => boolean,
): Promise<Seeding> {
  const vouched = new VouchedChunks()
  const limits = { uploadSlots: settings.uploadSlots }
  const serving = await serveAndAnnounce(
    {
      store,
      trust,
      reach,
      host,
      limits,
      vouched,
      settings,
      ...(hearsIpv6OnlyPeer ? { changesOverIpv6: hearsIpv6OnlyPeer } : {}),
    },
    log,
  )
  log.info({ host: serving.address.address, port: serving.address.port }, 'seeding')
  return { ...serving, vouched }
}

/**
 * --seed with a download by name (by-name.ts): the file fetched before its
 * name is decided may be a stranger's that happens to share the name, so it
 * is not announced (nor named in answers) until the name is decided for it.
 * A file picked later without a gate (at the prompt) is announced at once;
 * one not picked stays unannounced while this process seeds.
 */
export class SeedWithholding {
  private readonly releases = new Map<string, () => void>()

  constructor(private readonly seeding: Seeding | undefined) {}

  /** A download of `id` starts, before its name is decided (`gate`) or not. */
  fetching(id: string, gate: NameGate | undefined): void {
    if (this.seeding === undefined) return
    if (gate === undefined) {
      this.release(id)
      return
    }
    if (!this.releases.has(id)) this.releases.set(id, this.seeding.announcer.withhold(id))
    gate.decided().then(
      () => this.release(id),
      () => undefined, // not this file's name: left out
    )
  }

  private release(id: string): void {
    this.releases.get(id)?.()
    this.releases.delete(id)
  }
}

/** After the download: go on serving until Ctrl-C, then say what was served. */
export async function seedUntilStopped(
  ctx: Pick<CommandContext<typeof SEED_SETTINGS>, 'json' | 'out' | 'err' | 'log' | 'signal'> & {
    settings: { udpPort: number }
  },
  seeding: Seeding,
): Promise<void> {
  const { address, port } = seeding.address
  const { udpPort } = ctx.settings
  // As every command that runs until stopped: a line as it starts (with --port 0, a script learns the port here).
  if (ctx.json)
    process.stdout.write(`${JSON.stringify({ ok: true, seeding: true, host: address, port, udpPort })}
`)
  ctx.out(
    `${chalk.green('Seeding')} on ${endpoint(address, port)}, the whole store announced on UDP ${udpPort} (Ctrl-C to stop)`,
  )
  const quiet = sayWhatIsServed(seeding.server, ctx.out)
  await untilAborted(ctx.signal)
  quiet()
  const goodbye = (await stopAll({ seeding: seeding.stop() }, ctx)).length === 0
  ctx.log.info({ stats: seeding.server.stats, announcer: seeding.announcer.stats }, 'seeding stopped')
  if (ctx.json) process.stdout.write(`${JSON.stringify({ ok: true, stopped: true, stats: seeding.server.stats })}\n`)
  ctx.out(
    chalk.dim(
      `Stopped seeding: ${formatBytes(seeding.server.stats.bytesServed)} served${goodbye ? ' (goodbye sent)' : ''}.`,
    ),
  )
}
