import chalk from 'chalk'
import {
  assertWritable,
  type ChunkStore,
  createDhtPeers,
  createPeerDirectory,
  type DhtPeers,
  type DownloadProgress,
  type DownloadReceipt,
  datagramGuard,
  download,
  hasCode,
  isId,
  isShareLink,
  mergeFinders,
  openStore,
  P2PError,
  type PeerDirectory,
  printable,
  summaryOf,
  type Trust,
} from '../index.js'
import { fetchByName, type NameGate } from './by-name.js'
import { type CommandContext, defineCommand } from './common.js'
import { takeShareLink } from './download-link.js'
import { DOWNLOAD_SETTINGS, downloadOptions } from './download-settings.js'
import { asId, idOption, nameGiven, otherName, privateSwarmAdvice, seedOnly } from './download-words.js'
import { killBeforeRename } from './fault-hooks.js'
import { counted, formatBytes, shortId } from './format.js'
import { pickingInStore } from './held-in-store.js'
import { createProgress, type Progress } from './progress.js'
import { pickTarget } from './prompt.js'
import { commandReach } from './reach.js'
import { renderReceipt } from './receipt.js'
import { type Seeding, SeedWithholding, seedUntilStopped, startSeeding } from './seed.js'
import { dhtThrough, discoveryFollowing, serveHost } from './serve.js'
import { stopAll } from './stopping.js'
import { commandTrust, modeLine } from './trust.js'

type Ctx = CommandContext<typeof DOWNLOAD_SETTINGS>

export const downloadCommand = defineCommand({
  name: 'download',
  summary:
    'download a file or folder from the peers that have it, verify every chunk and stitch it into the downloads directory',
  arguments: '[name|link]',
  settings: DOWNLOAD_SETTINGS,
  examples: [
    'p2p-download holiday.mp4',
    'p2p-download            # on a terminal: pick from the files the LAN offers',
    'p2p-download --id 3f9a…e1 --downloads-dir ~/Downloads',
    'p2p-download notes.pdf --json | jq .sha256',
    "p2p-download album --only '*.jpg' --only 'raw/**'   # a folder: just these files",
    'p2p-download album   # later: the rest, added to downloads/album',
    "p2p-download 'p2p://3f9a…e1?peer=10.1.2.3:47011'   # a share link (p2p-split prints it)",
    'p2p-download holiday.mp4 --seed   # and serve it to the others, from the first chunk until Ctrl-C',
    'p2p-download --dht --bootstrap 203.0.113.7:49737 --id 3f9a…e1   # beyond the LAN, through a private DHT',
  ],
  configure: downloadOptions,
  run: (ctx) => runDownloadCommand(ctx, { idArgument: false }),
})

/**
 * p2p-download and p2p get: find the file (by id, by name, or at the prompt),
 * download it, print the receipt. With `idArgument`, an argument of 64
 * hex characters is the file's id rather than its name.
 */
export async function runDownloadCommand(ctx: Ctx, variant: { idArgument: boolean }): Promise<number> {
  const { settings, log } = ctx
  const link =
    ctx.args[0] !== undefined && isShareLink(ctx.args[0])
      ? await takeShareLink(ctx.args[0], ctx.options, settings)
      : undefined
  const given = link ? undefined : ctx.args[0]
  // An id as printed anywhere, in either case (a link's is taken in either case too).
  let id = idOption(ctx.options.id)
  if (variant.idArgument && id === undefined && given !== undefined && isId(asId(given))) id = asId(given)
  const name = given === undefined || id === asId(given) ? undefined : nameGiven(given)
  seedOnly(ctx.options)
  const interactive = process.stdin.isTTY && process.stderr.isTTY && !ctx.json
  if (id === undefined && name === undefined && !interactive) {
    throw new P2PError(
      'E_USAGE',
      `give a NAME, ${variant.idArgument ? 'ID' : '--id HEX'} or share link (no terminal to prompt on)`,
    )
  }
  const store = await openStore(
    { dir: settings.chunksDir, maxManifestBytes: settings.maxManifestBytes, directIo: settings.directIo },
    { log },
  )
  // Fail on an unwritable destination before any network traffic.
  await assertWritable(settings.downloadsDir, 'the downloads directory')
  await assertWritable(settings.chunksDir, 'the chunk store')
  const reach = await commandReach(settings, ctx, { strict: true })
  const trust = await commandTrust(settings, log)
  if (!ctx.json) ctx.err(chalk.dim(modeLine(trust)))
  const guard = datagramGuard(trust, settings.staleAfter * 1000)
  const seedHost = ctx.options.seed === true ? serveHost(settings.host) : undefined
  const served = seedHost === undefined ? undefined : discoveryFollowing(seedHost, settings, settings.host)
  // --seed on the download's own families: its listener hears the discovery port through the announcer's sockets.
  const sameFamilies = served !== undefined && served.ipv4 === settings.ipv4 && served.ipv6 === settings.ipv6
  let seeding: Seeding | undefined
  const seedingStarted = (): Seeding => {
    if (!seeding) throw new P2PError('E_INTERNAL', 'the peer directory started before --seed had started')
    return seeding
  }
  const directory = createPeerDirectory(
    {
      // Its own guard, not seeding's: each keeps its own replay record, and each opens every datagram once.
      ...(sameFamilies ? { sharedPort: { hear: (hear) => seedingStarted().announcer.hear(hear) } } : {}),
      udpPort: settings.udpPort,
      ...reach.listenerOptions(),
      staleAfterMs: settings.staleAfter * 1000,
      dictionaryPath: settings.dictionary,
      selfPeerId: trust.identity.peerId,
      ...(guard ? { guard } : {}),
      // Ask only for our file: the answers are then small and whole (an unasked answer holds what fits, the rest comes later).
      want: typeof id === 'string' ? { id } : name !== undefined ? { name } : undefined,
      // A name is decided among the peers we would fetch from: an unlisted stranger's file makes it no less ours.
      ...(trust.allow ? { heeded: (peer: string) => trust.allow?.allowsPeerId(peer) === true } : {}),
    },
    { log },
  )
  let dht: DhtPeers | undefined
  try {
    if (seedHost !== undefined && served !== undefined) {
      // On the families its server answers only (--host 0.0.0.0: IPv4); a named peer with no address in them is
      // warned about, as p2p share does, not a failed download.
      const seedReach = sameFamilies ? reach : await commandReach(served, ctx, { strict: false })
      seeding = await startSeeding(settings, seedHost, store, trust, seedReach, log, () =>
        directory.hearsIpv6OnlyPeer(),
      )
    }
    await directory.start()
    // Of a folder, what --only chooses is what must be held for it to be placed from the store.
    const only = Array.isArray(ctx.options.only) ? (ctx.options.only as string[]) : undefined
    const picking = { ...ctx, ...pickingInStore(store, { ...ctx, only }) }
    let receipt: DownloadReceipt
    if (id === undefined && name !== undefined && !settings.dht) {
      // By name on the LAN: fetched from the first answer on, while the name is still being decided (by-name.ts).
      const withholding = new SeedWithholding(seeding)
      receipt = await fetchByName(picking, directory, name, interactive, (target, gate) => {
        withholding.fetching(target, gate)
        return runDownload(ctx, store, directory, target, trust, undefined, seeding, gate)
      })
    } else {
      const target = typeof id === 'string' ? id : await pickTarget(picking, directory, name, interactive)
      dht = settings.dht ? await startDht(ctx, target, trust, link?.id === target ? link.seeder : undefined) : undefined
      receipt = await runDownload(ctx, store, directory, target, trust, dht, seeding)
    }
    renderReceipt(ctx, receipt, reach, otherName(ctx, receipt.id, receipt.name))
    if (seeding) {
      await seedUntilStopped(ctx, seeding)
      seeding = undefined // stopped (and any failure said) once
    }
    return 0
  } catch (error) {
    // Nobody answered at all (or none that could deliver): say where we looked and what the user can do.
    const nobody = (hasCode(error, 'E_NOT_FOUND') || hasCode(error, 'E_NO_PEER')) && !directory.heardAnyone()
    if (nobody && dht)
      throw new P2PError(
        'E_NO_PEER',
        `${error.message}; no peer could deliver it: ${dht.describeAttempt()}; LAN: ${reach.advice()}`,
      )
    // A seeder answers a query only for what it has; the others are heard by their announcements, every few s.
    if (nobody && hasCode(error, 'E_NOT_FOUND'))
      throw new P2PError(
        'E_NOT_FOUND',
        `${error.message}; no peer answered or announced itself within ${settings.wait} s${settings.wait < 10 ? ' (a longer --wait hears announcements that come every few seconds)' : ''}: ${privateSwarmAdvice(directory.privateSwarmsHeard()) ?? reach.advice()}${settings.dht && id === undefined ? '; the DHT finds a file by its id or share link, not by its name' : ''}`,
      )
    throw error
  } finally {
    await stopAll({ 'peer discovery': directory.stop(), 'the DHT': dht?.stop(), seeding: seeding?.stop() }, ctx)
  }
}

/** The DHT side of a download (--dht): joined and looking before the download starts. */
async function startDht(ctx: Ctx, id: string, trust: Trust, seeder: string | undefined): Promise<DhtPeers> {
  const { settings } = ctx
  const dht = createDhtPeers(
    {
      id,
      trust,
      dht: { bootstrap: settings.bootstrap, host: settings.dhtHost, port: settings.dhtPort },
      ...(seeder ? { named: [seeder] } : {}),
    },
    { log: ctx.log },
  )
  if (!ctx.json) ctx.err(chalk.dim(`DHT: looking up ${shortId(id)}… through ${dhtThrough(settings.bootstrap)}`))
  await dht.start()
  return dht
}

async function runDownload(
  ctx: Ctx,
  store: ChunkStore,
  directory: PeerDirectory,
  id: string,
  trust: Trust,
  dht: DhtPeers | undefined,
  seeding: Seeding | undefined,
  gate?: NameGate,
): Promise<DownloadReceipt> {
  const settings = ctx.settings
  let progress: Progress | undefined
  let stallNoted = 0
  let lineNoted = 0
  let isFolder = false
  try {
    return await download(
      {
        id,
        store,
        downloadsDir: settings.downloadsDir,
        force: ctx.options.force === true,
        ...(Array.isArray(ctx.options.only) ? { only: ctx.options.only as string[] } : {}),
        signal: gate?.signal ?? ctx.signal,
        peers: dht ? mergeFinders(directory, dht) : directory,
        ...(dht ? { dialer: dht } : {}),
        ...(seeding ? { vouch: seeding.vouched } : {}),
        trust,
        limits: {
          window: settings.window,
          maxConnections: settings.maxConnections,
          connectTimeoutMs: settings.connectTimeout * 1000,
          requestTimeoutMs: settings.requestTimeout * 1000,
          maxManifestBytes: settings.maxManifestBytes,
          maxEntries: settings.maxEntries,
          waitMs: settings.wait * 1000,
          maxBufferedBytes: settings.maxBuffered,
        },
        ...(gate ? { nameDecided: gate.decided } : {}),
        beforeFinalName: killBeforeRename(),
        onManifest: (m) => {
          const other = otherName(ctx, id, m.name)
          if (other) ctx.err(chalk.yellow(`warning: ${other}`))
          const { size, chunks, folder } = summaryOf(m)
          ctx.log.info({ id, name: m.name, size, chunks, ...folder }, 'download start')
          const what = folder ? `a folder of ${counted(folder.files, 'file')}, ` : ''
          isFolder = folder !== undefined
          if (!ctx.json)
            ctx.err(
              `${chalk.cyan('Downloading')} ${printable(m.name)} (${what}${formatBytes(size)}, ${counted(chunks, 'chunk')}, id ${shortId(id)}…)`,
            )
        },
        onProgress: (p: DownloadProgress) => {
          // Created at the first report: its total is what this download fetches (a folder's --only part).
          progress ??= createProgress('download', p.size, {
            json: ctx.json,
            format: `download [{bar}] {percentage}% | {doneText} / {totalText} | {rate} | ETA {etaText} | peers {peers}${isFolder ? ' | {file}' : ''}`,
            initial: { peers: p.peersInUse, file: '' },
          })
          progress.update(p.doneBytes, {
            peers: p.peersInUse,
            ...(isFolder ? { file: printable(p.file ?? '', 60) } : {}),
          })
          if (p.stalled && Date.now() - stallNoted > 5000) {
            stallNoted = Date.now()
            const line = `${counted(p.stalled.chunks, 'chunk')} (${formatBytes(p.stalled.bytes)}, first ${p.stalled.first.join(', ')}) have no live peer; waiting up to ${settings.wait} s for one`
            ctx.log.warn({ chunks: p.stalled.chunks, bytes: p.stalled.bytes }, 'stalled: chunks with no live peer')
            if (!ctx.json) ctx.err(chalk.yellow(line))
          }
          // Nothing asked of anyone, a seeder's upload slots all taken: say where we stand in its line.
          if (p.linePlace !== undefined && p.peersInUse === 0 && Date.now() - lineNoted > 10_000) {
            lineNoted = Date.now()
            ctx.log.info({ place: p.linePlace }, "waiting in a busy peer's upload-slot line")
            if (!ctx.json) ctx.err(chalk.dim(`a busy seeder says "not now": we are number ${p.linePlace} in its line`))
          }
        },
      },
      { log: ctx.log },
    )
  } finally {
    progress?.stop()
  }
}
