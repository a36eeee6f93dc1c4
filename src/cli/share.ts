import { basename } from 'node:path'
import chalk from 'chalk'
import {
  formatShareLink,
  isFolderResult,
  openStore,
  P2PError,
  printable,
  type SplitPathResult,
  splitPath,
} from '../index.js'
import { type CommandContext, defineCommand, pickSettings } from './common.js'
import { counted, filesAndFolders, formatBytes, shellWord } from './format.js'
import { createProgress } from './progress.js'
import { commandReach } from './reach.js'
import { serveAndAnnounce } from './seed.js'
import {
  dhtThrough,
  discoveryFollowing,
  endpoint,
  SERVE_SETTINGS,
  sayDhtLinks,
  serveHost,
  serverLimits,
  startDhtSeeder,
} from './serve.js'
import { sayWhatIsServed } from './serving-lines.js'
import { refuseSharingPrivate, warnSkipped } from './split.js'
import { stopAll, untilAborted } from './stopping.js'
import { commandTrust, modeLine, TRUST_HELP } from './trust.js'

/**
 * `p2p share PATH…`: split (or find already split) the given files, then
 * serve and announce the store from this one process — p2p-split,
 * p2p-serve and p2p-announce in one command, built on the public API only
 * (src/index.ts). Ctrl-C says goodbye to the LAN, lets the responses in
 * flight finish and exits 0.
 */

const SHARE_SETTINGS = {
  ...SERVE_SETTINGS,
  ...pickSettings('chunkSize', 'udpPort', 'broadcast', 'peer', 'ipv4', 'ipv6', 'interval', 'maxEntries', 'staleAfter'),
}

type Ctx = CommandContext<typeof SHARE_SETTINGS>

export const shareCommand = defineCommand({
  name: 'share',
  afterInterrupt: 'run the same command again (a split cut short starts over)',
  summary:
    'split the given files into the chunk store (if not split already), then serve and announce them until Ctrl-C',
  arguments: '<path...>',
  settings: SHARE_SETTINGS,
  examples: [
    'p2p share holiday.mp4 notes.pdf',
    'p2p share ~/Pictures/album            # a folder is one item',
    'p2p share --port 0 --broadcast 127.255.255.255 sample.bin     # this machine only, any free port',
    "p2p share --json movie.mkv > shared.jsonl &   # then: head -1 shared.jsonl | jq -r '.files[0].id'",
  ],
  configure: (cmd) =>
    cmd
      .option('--force', 'replace a different file or folder of the same name in the store')
      .option('--follow-symlinks', 'a folder: follow symbolic links that stay inside it (never one that leads out)')
      .addHelpText('after', TRUST_HELP),
  preflight: (ctx) => refuseSharingPrivate(ctx, ctx.args),
  run: async (ctx) => {
    const { settings, log, json, signal, out } = ctx
    const host = serveHost(settings.host)
    const reach = await commandReach(discoveryFollowing(host, settings, settings.host), ctx, { strict: false })
    const store = await openStore({ dir: settings.chunksDir, directIo: settings.directIo }, { log })
    const trust = await commandTrust(settings, log)
    const files = await splitAll(ctx, store)
    const limits = serverLimits(settings)
    const serving = await serveAndAnnounce({ store, trust, reach, host, limits, settings }, log)
    const { server, announcer, address } = serving
    const broadcast = [...reach.broadcast, ...reach.named.map((p) => p.name)]
    let dht: Awaited<ReturnType<typeof startDhtSeeder>> | undefined
    let failedStops: string[] = []
    try {
      dht = settings.dht ? await startDhtSeeder(settings, server, store, trust, log, signal) : undefined
      const shared = files.map((f) => ({
        name: f.name,
        id: f.id,
        size: f.size,
        chunks: f.chunks,
        ...(isFolderResult(f) ? { files: f.files, dirs: f.dirs } : {}),
        alreadySplit: f.unchanged,
        // Seeding through the open DHT: the link names our key, so a --dht download dials us first (serve.ts shareLinks).
        link: formatShareLink({ id: f.id, ...(dht && !trust.swarm ? { seeder: trust.identity.peerId } : {}) }),
      }))
      log.info(
        { host: address.address, port: address.port, udpPort: settings.udpPort, broadcast, files: shared },
        'sharing',
      )
      if (json) {
        const line = {
          ok: true,
          host: address.address,
          port: address.port,
          udpPort: settings.udpPort,
          broadcast,
          files: shared,
          storeFiles: server.files,
          transport: trust.transport,
          peerId: trust.identity.peerId,
          privateSwarm: trust.swarm !== undefined,
          dht: dht !== undefined,
        }
        process.stdout.write(`${JSON.stringify(line)}\n`)
      }
      out(
        `${chalk.green('Sharing')} ${sharedItems(files)} on ${endpoint(address.address, address.port)}, announced to ${broadcast.join(', ')} (UDP ${settings.udpPort}):`,
      )
      for (const f of files)
        out(
          `  ${f.id}  ${formatBytes(f.size).padStart(10)}  ${printable(f.name)}${f.unchanged ? chalk.dim('  (already split)') : ''}`,
        )
      out(chalk.dim(`  ${modeLine(trust)}`))
      if (dht)
        out(
          chalk.dim(`  DHT: announced ${counted(dht.stats.topics, 'file')} through ${dhtThrough(settings.bootstrap)}`),
        )
      if (dht && !trust.swarm) sayDhtLinks(shared, out)
      const others = server.files - new Set(files.map((f) => f.id)).size
      if (others > 0)
        out(chalk.dim(`  and ${others} more ${others === 1 ? 'file' : 'files'} already in ${settings.chunksDir}`))
      const example = files[0] ? shellWord(printable(files[0].name)) : 'NAME'
      out(chalk.dim(`Get one elsewhere with: p2p get ${example} (or its id). Ctrl-C to stop.`))
      const quiet = sayWhatIsServed(server, out)
      await untilAborted(signal)
      quiet()
    } finally {
      failedStops = await stopAll({ serving: serving.stop(), 'the DHT': dht?.stop() }, ctx)
    }
    log.info({ stats: server.stats, announcer: announcer.stats }, 'stopped')
    if (json) process.stdout.write(`${JSON.stringify({ ok: true, stopped: true, stats: server.stats })}\n`)
    out(chalk.dim(failedStops.includes('serving') ? 'Stopped.' : 'Stopped (goodbye sent).'))
    return 0
  },
})

/** Each path split into the store (one that is already there is verified, not written again). */
async function splitAll(ctx: Ctx, store: Awaited<ReturnType<typeof openStore>>): Promise<SplitPathResult[]> {
  // Two paths with one file name would be one store entry: the second would replace (or be refused by) the first.
  const names = new Map<string, string>()
  for (const path of ctx.args) {
    const other = names.get(basename(path))
    if (other !== undefined)
      throw new P2PError(
        'E_USAGE',
        `${printable(other)} and ${printable(path)} have the same file name: share them from one directory each, or rename one`,
      )
    names.set(basename(path), path)
  }
  const results: SplitPathResult[] = []
  for (const path of ctx.args) {
    let progress: ReturnType<typeof createProgress> | undefined
    const result = await splitPath(
      path,
      {
        store,
        chunkSize: ctx.settings.chunkSize,
        force: ctx.options.force === true,
        followSymlinks: ctx.options.followSymlinks === true,
        maxEntries: ctx.settings.maxEntries,
        privatePaths: ctx.privatePaths(),
        signal: ctx.signal,
        onProgress: (done, total) => {
          progress ??= createProgress(`split ${basename(path)}`, total, { json: ctx.json })
          progress.update(done)
        },
      },
      { log: ctx.log },
    ).finally(() => progress?.stop())
    warnSkipped(ctx, result)
    results.push(result)
  }
  return results
}

function sharedItems(items: readonly SplitPathResult[]): string {
  const folders = items.filter((f) => isFolderResult(f)).length
  return filesAndFolders(items.length - folders, folders)
}
