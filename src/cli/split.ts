import chalk from 'chalk'
import { InvalidArgumentError } from 'commander'
import {
  formatShareLink,
  isFolderResult,
  loadSwarmSecret,
  MAX_LINK_CHARS,
  openStore,
  P2PError,
  type PrivatePath,
  parseNamedPeers,
  parseShareLink,
  portableName,
  printable,
  refusePrivatePath,
  type ShareLink,
  type SplitPathResult,
  type SplitTreeResult,
  splitPath,
  statSplitPath,
} from '../index.js'
import { type CommandContext, defineCommand, onlyWith, pickSettings } from './common.js'
import { counted, formatBytes, formatRate, formatSeconds } from './format.js'
import { createProgress } from './progress.js'

const SHARED = pickSettings('chunksDir', 'chunkSize', 'maxEntries', 'secret', 'secretFile')
const SPLIT_SETTINGS = {
  ...SHARED,
  // A split joins no swarm: the secret is read for --with-secret alone (the shared words said "join a private swarm").
  secret: {
    ...SHARED.secret,
    description: 'the private swarm secret --with-secret puts in the share link (only with it; prefer the env)',
  },
  secretFile: {
    ...SHARED.secretFile,
    description: 'read the secret --with-secret puts in the share link from this file (first line; mode 0600)',
  },
}

export const splitCommand = defineCommand({
  name: 'split',
  afterInterrupt: 'run the same command again (the split starts over)',
  summary: 'split FILE (or a whole folder DIR) into SHA-256-verified chunks and a manifest in the chunk store',
  arguments: '<path>',
  settings: SPLIT_SETTINGS,
  examples: [
    'p2p-split movie.mkv',
    'p2p-split ~/Pictures/album          # a folder: one item, every file and (empty) directory in it',
    'p2p-split --chunk-size 4MiB --chunks-dir /srv/p2p/chunks backup.tar',
    'p2p-split --json notes.pdf | jq -r .id',
    'p2p-split film.mkv --link-peer 192.168.1.20:47011   # the share link names a peer to ask',
    'P2P_SECRET=psk1-… p2p-split film.mkv --with-secret     # the link carries the swarm secret: share it privately',
  ],
  configure: (cmd) =>
    cmd
      .option('--force', 'replace a different file or folder of the same name in the store')
      .option('--follow-symlinks', 'a folder: follow symbolic links that stay inside it (never one that leads out)')
      .option(
        '--link-peer <host:port>',
        "the share link's peer hint: a seeder's address and UDP discovery port (one: a link names one peer)",
        // A second was taken for the first without a word (a UX audit).
        (value: string, previous: string | undefined) => {
          if (previous !== undefined) throw new InvalidArgumentError('give one: a share link names one peer')
          return value
        },
      )
      .option(
        '--with-secret',
        'put the private swarm secret (--secret, P2P_SECRET or --secret-file) in the share link',
      ),
  preflight: (ctx) => refuseSharingPrivate(ctx, ctx.args.slice(0, 1)),
  run: async (ctx) => {
    const { settings, options, args, json, log, signal, out } = ctx
    const linkOf = await shareLinkMaker(options, settings)
    const store = await openStore({ dir: settings.chunksDir }, { log })
    let progress: ReturnType<typeof createProgress> | undefined
    const result = await splitPath(
      args[0]!,
      {
        store,
        chunkSize: settings.chunkSize,
        force: options.force === true,
        followSymlinks: options.followSymlinks === true,
        maxEntries: settings.maxEntries,
        privatePaths: ctx.privatePaths(),
        signal,
        onProgress: (done, total) => {
          progress ??= createProgress('split', total, { json })
          progress.update(done)
        },
      },
      { log },
    ).finally(() => progress?.stop())
    const link = linkOf(result.id)
    if (json) {
      process.stdout.write(`${JSON.stringify({ ok: true, ...result, link })}\n`)
      return 0
    }
    out(`${chalk.green(result.unchanged ? 'Already split:' : 'Split:')} ${printable(result.name)}`)
    out(`  id      ${result.id}`)
    out(`  size    ${formatBytes(result.size)} (${counted(result.size, 'byte')})`)
    if (isFolderResult(result))
      out(`  folder  ${counted(result.files, 'file')}, ${counted(result.dirs, 'directory', 'directories')}`)
    out(`  chunks  ${result.chunks} × ${formatBytes(result.chunkSize)}`)
    out(`  time    ${formatSeconds(result.seconds)} (${formatRate(result.size, result.seconds)})`)
    out(`  store   ${printable(result.dir)}`)
    out(`  link    ${link}${options.withSecret ? chalk.yellow('  (holds the swarm secret: share it privately)') : ''}`)
    const local = portableName(result.name)
    if (local !== result.name)
      out(
        chalk.yellow(
          `  note    not a portable name (Windows would refuse or misread it): downloads save it as ${printable(local)}`,
        ),
      )
    warnSkipped(ctx, result)
    return 0
  },
})

/**
 * The share link of a file id, as the options ask: checked before any work (a bad hint or a secret no peer takes
 * is E_USAGE at once), as a link is parsed: what p2p-split prints, p2p-download accepts.
 */
async function shareLinkMaker(
  options: Record<string, unknown>,
  settings: { secret: string | undefined; secretFile: string | undefined },
): Promise<(id: string) => string> {
  // The secret is read for the link alone: given without --with-secret, it would be read for nothing.
  const secretFlags = { secret: SPLIT_SETTINGS.secret, secretFile: SPLIT_SETTINGS.secretFile }
  const why = 'a split reads the swarm secret only to put it in the share link'
  onlyWith(options, { key: 'withSecret', flag: 'with-secret' }, secretFlags, why)
  const secret = options.withSecret === true ? await loadSwarmSecret(settings) : undefined
  if (options.withSecret === true && secret === undefined)
    throw new P2PError(
      'E_USAGE',
      '--with-secret puts the swarm secret in the link: give it with --secret, P2P_SECRET or --secret-file',
    )
  const peerText = typeof options.linkPeer === 'string' ? options.linkPeer : undefined
  let hint: ShareLink['peer']
  if (peerText !== undefined) {
    const named = parseNamedPeers(peerText, 0)
    if (named.length !== 1 || named[0]!.port === 0)
      throw new P2PError(
        'E_USAGE',
        `--link-peer ${JSON.stringify(peerText.slice(0, 80))} must be one HOST:PORT or [IPv6]:PORT (a seeder's address and UDP discovery port)`,
      )
    hint = { host: named[0]!.host, port: named[0]!.port }
  }
  const linkOf = (id: string) =>
    formatShareLink({ id, ...(hint ? { peer: hint } : {}), ...(secret !== undefined ? { secret } : {}) })
  // Every id is 64 characters: a link that parses for one parses for all.
  const probe = linkOf('0'.repeat(64))
  if (probe.length > MAX_LINK_CHARS)
    throw new P2PError(
      'E_USAGE',
      `the share link would be ${probe.length} characters, over the ${MAX_LINK_CHARS} p2p-download takes: use a key from \`p2p secret\` in place of this long passphrase`,
    )
  parseShareLink(probe)
  return linkOf
}

/** What a folder's walk left out (links, FIFOs, sockets, devices): a warning listing them, on stderr. */
export function warnSkipped(ctx: CommandContext<Record<string, never>>, result: SplitPathResult): void {
  if (!isFolderResult(result) || result.skippedCount === 0) return
  const tree: SplitTreeResult = result
  ctx.log.warn({ skipped: tree.skippedCount, first: tree.skipped.slice(0, 20) }, 'entries skipped')
  if (ctx.json) return
  ctx.err(chalk.yellow(`  skipped ${tree.skippedCount} entries (not shared):`))
  for (const s of tree.skipped.slice(0, 20)) ctx.err(chalk.yellow(`    ${printable(s.path)}  (${s.why})`))
  if (tree.skippedCount > 20) ctx.err(chalk.yellow(`    … and ${tree.skippedCount - 20} more (--json lists 1,000)`))
  if (tree.skipped.some((s) => s.why === 'symlink'))
    ctx.err(chalk.yellow('    --follow-symlinks follows links that stay inside the folder'))
}

/**
 * Before the log opens and the store is made, so that a refusal leaves nothing behind (an empty chunks/ and logs/
 * for a mistyped name before): a path that is not there is E_NOT_FOUND, every one looked at before any is split
 * (`p2p share a b nosuch` had split a and b); a folder among `paths` holding the store or one of the command's
 * private paths, where they are or would be made, or a file that is one of them or inside one, is refused
 * (split-item.ts refusePrivatePath). splitPath asks again as it splits, for the library's callers.
 */
export async function refuseSharingPrivate(
  ctx: { settings: { chunksDir: string }; privatePaths: () => PrivatePath[] },
  paths: readonly string[],
): Promise<void> {
  for (const path of paths) await statSplitPath(path)
  for (const path of paths) await refusePrivatePath(path, ctx.settings.chunksDir, ctx.privatePaths())
}
