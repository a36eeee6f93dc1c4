import chalk from 'chalk'
import { type DiscoveryReach, type DownloadReceipt, type Logger, PEER_PATIENCE_MS, printable } from '../index.js'
import { counted, formatBytes, formatRate, formatSeconds, writeJsonLine } from './format.js'
import { endpoint } from './serve.js'

/** The address part of a peer key (address:port; an IPv6 address holds colons itself). */
const addressOf = (key: string): string => key.slice(0, Math.max(0, key.lastIndexOf(':')))

/** A peer key as people write it: an IPv6 address in brackets (`[::1]:47010`, not `::1:47010`); a DHT peer's as it is. */
export const shownKey = (key: string): string => {
  if (key.startsWith('dht:')) return key
  const address = addressOf(key)
  return endpoint(address, Number(key.slice(address.length + 1)))
}

/**
 * The finished download for people (the path, the size and rate, the SHA-256, who delivered what) or, with --json,
 * one object; `warning`, said on stderr as the file was found, is in that object too (`warnings`): a script reads
 * only the object (a UX audit: a name given beside --id that was not its file's reached no --json reader).
 */
export function renderReceipt(
  ctx: { log: Logger; json: boolean; out: (line: string) => void },
  r: DownloadReceipt,
  reach: DiscoveryReach,
  warning?: string,
): void {
  const peers = r.peers.map((p) => ({
    peer: p.key,
    via: p.via === 'dht' ? (`dht${p.path ? ` (${p.path})` : ''}` as const) : reach.via(addressOf(p.key)),
    ...(p.via === 'dht' && p.path ? { path: p.path } : {}),
    ...(p.peerId ? { peerId: p.peerId } : {}),
    bytes: p.bytes,
    chunks: p.chunks,
    ...(p.banned ? { banned: p.banned } : {}),
    ...(p.writtenOff ? { writtenOff: true } : {}),
  }))
  ctx.log.info(
    {
      id: r.id,
      path: r.path,
      seconds: r.seconds,
      fetchedBytes: r.fetchedBytes,
      resumedBytes: r.resumedBytes,
      peers,
      idlePeers: r.idlePeers,
      refused: r.refused,
      ...(warning ? { warnings: [warning] } : {}),
    },
    'download done',
  )
  if (ctx.json) {
    writeJsonLine(
      (piece) => process.stdout.write(piece),
      {
        ...{ ok: true, id: r.id, name: r.name, path: r.path, size: r.size, sha256: r.sha256, seconds: r.seconds },
        ...{ fetchedBytes: r.fetchedBytes, resumedBytes: r.resumedBytes, alreadyThere: r.alreadyThere, peers },
        idlePeers: r.idlePeers,
        ...(r.files ? { files: r.files, dirs: r.dirs } : {}),
        ...(r.filledIn ? { filledIn: r.filledIn } : {}),
        refused: r.refused,
        ...(warning ? { warnings: [warning] } : {}),
      },
      'files',
    )
    return
  }
  ctx.out(`${chalk.green('Downloaded:')} ${printable(r.path)}${placedHow(r)}`)
  ctx.out(
    `  size     ${formatBytes(r.size)} (${counted(r.size, 'byte')}) in ${formatSeconds(r.seconds)}${fetchedRate(r)}`,
  )
  if (r.files) {
    ctx.out(
      `  folder   ${counted(r.files.length, 'file')}, ${counted(r.dirs ?? 0, 'directory', 'directories')}, each file's SHA-256 checked (--json lists them)`,
    )
    ctx.out(`  id       ${r.sha256}`)
  } else ctx.out(`  sha256   ${r.sha256}  (compare with sha256sum on the source)`)
  if (r.resumedBytes > 0) ctx.out(`  resumed  ${formatBytes(r.resumedBytes)} already in the chunk store`)
  for (const p of peers) {
    const banned = p.banned
      ? chalk.red(`  banned: ${printable(p.banned, 300)}`)
      : p.writtenOff
        ? chalk.yellow(`  written off: gave nothing for ${PEER_PATIENCE_MS / 1000} s`)
        : ''
    ctx.out(
      `  peer     ${printable(shownKey(p.peer), 66).padEnd(21)} ${formatBytes(p.bytes).padStart(10)} (${counted(p.chunks, 'chunk')}, via ${p.via})${p.peerId ? `  ${p.peerId}` : ''}${banned}`,
    )
  }
  for (const p of r.refused)
    ctx.out(chalk.red(`  refused  ${printable(shownKey(p.key), 66).padEnd(21)} ${printable(p.reason, 300)}`))
  if (r.idlePeers > 0) ctx.out(chalk.dim(`  and ${counted(r.idlePeers, 'peer')} heard of, never asked for anything`))
}

/** What the final name held before: nothing said when it was free. */
function placedHow(r: DownloadReceipt): string {
  if (r.filledIn) return ` (added ${counted(r.filledIn, 'entry', 'entries')} to the partial copy already there)`
  if (!r.alreadyThere) return ''
  return r.files ? ' (everything chosen was already there, identical)' : ' (an identical file was already there)'
}

/** The rate of what was fetched (not of what the store or downloads/ held already); none when nothing was. */
function fetchedRate(r: { size: number; seconds: number; fetchedBytes: number; resumedBytes: number }): string {
  // What this run added: fetchedBytes counts duplicates (the endgame's) and refused chunks too.
  const added = r.fetchedBytes === 0 ? 0 : Math.max(0, r.size - r.resumedBytes)
  if (added === 0) return ''
  return `, ${formatRate(added, r.seconds)}${added < r.size ? ` (${formatBytes(added)} of it fetched)` : ''}`
}
