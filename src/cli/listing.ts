import chalk from 'chalk'
import { fairListing, type KnownFile, mixesLookAlikeScripts, printable } from '../index.js'
import { counted, formatBytes, LOOK_ALIKE, lookAlike, shortId } from './format.js'

/**
 * What p2p-listen shows of the dictionary: its plain line and its live table. Both list at most MAX_LISTED
 * files, taken in turns by source address when more are known (fair-listing.ts: one stranger's thousands
 * of files filled both before), and say how many they leave out; the table sorts what it lists by name.
 */

/** Files named on one plain output line, and rows in the live table. */
export const MAX_LISTED = 50

/**
 * The line a listener prints on a change (not a terminal); `dropped`'s `sealed`: a private swarm's datagrams heard
 * without a secret, its `auth`: sealed ones our secret does not open (a mistyped secret said nothing of itself).
 */
export function summary(files: KnownFile[], peers: number, dropped: Record<string, number>): string {
  const sealed = dropped.sealed ?? 0
  const unopened = dropped.auth ?? 0
  const { listed: shown, omitted } = fairListing(files, MAX_LISTED)
  const listed = shown
    .map((f) => `${printable(f.name)} (${counted(f.peers.length, 'peer')}${lookAlike(f.name)})`)
    .join(', ')
  const more = omitted > 0 ? ` and ${omitted} more` : ''
  const swarm =
    sealed > 0
      ? ` (${counted(sealed, 'sealed datagram')} of a private swarm heard: give its secret)`
      : unopened > 0
        ? ` (${counted(unopened, 'sealed datagram')} our secret does not open heard: another private swarm, or a mistyped secret)`
        : ''
  return `${counted(files.length, 'file')}, ${counted(peers, 'peer')}: ${listed || 'nothing announced'}${more}${swarm}`
}

/** The live table p2p-listen draws on a terminal (every announced name through printable(), cut by code points). */
export function listenTable(
  files: KnownFile[],
  path: string,
  dropped: number,
  classify: (address: string) => string,
): string {
  const { listed, omitted } = fairListing(files, MAX_LISTED)
  const rows = listed
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((f) => {
      const complete = f.peers.filter((p) => p.chunks === f.chunks && p.have.isComplete()).length
      const folder = f.files === undefined ? '' : `/ (${counted(f.files, 'file')})`
      const marks = `${f.disputed ? ' ?' : ''}${mixesLookAlikeScripts(f.name) ? ' !' : ''}`
      const room = 40 - marks.length - folder.length
      const name = `${printable(f.name, Math.max(8, room))}${folder}${marks}`
      const via = [...new Set(f.peers.map((p) => classify(p.address)))].join(',')
      // A peer ID's first group is enough to tell peers apart at a glance (the dictionary file has them whole).
      const ids = f.peers
        .slice(0, 3)
        .map((p) => printable(p.peer, 64).slice(0, 7))
        .join(',')
      return `${name.padEnd(40)} ${formatBytes(f.size).padStart(10)} ${String(complete).padStart(8)} ${String(f.peers.length).padStart(5)}  ${via.padEnd(9)} ${shortId(f.id)}  ${ids}${f.peers.length > 3 ? ',…' : ''}`
    })
  return [
    chalk.bold(
      `${'name'.padEnd(40)} ${'size'.padStart(10)} ${'complete'.padStart(8)} ${'peers'.padStart(5)}  ${'via'.padEnd(9)} ${'id'.padEnd(shortId('0'.repeat(64)).length)}  peer IDs`,
    ),
    ...(rows.length ? rows : [chalk.dim('(nothing announced yet)')]),
    ...(omitted > 0 ? [chalk.dim(`… and ${omitted} more (see the dictionary file)`)] : []),
    '',
    chalk.dim(
      `${new Date().toLocaleTimeString()} · ${printable(path)} · ${counted(dropped, 'bad datagram')} dropped · ? = peers disagree on name, size or chunks · ! = ${LOOK_ALIKE} · Ctrl-C to stop`,
    ),
  ].join('\n')
}
