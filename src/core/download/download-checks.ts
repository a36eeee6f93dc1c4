import { stat } from 'node:fs/promises'
import { someOf } from '../counted.js'
import { hasCode, P2PError } from '../errors.js'
import { type ItemManifest, isTree, layoutOf } from '../item.js'
import { portableName } from '../names.js'
import { printable } from '../printable.js'
import type { TreeManifest } from '../tree-manifest.js'
import { type Selection, selectEntries } from '../tree-select.js'
import type { DownloadLimits } from './job.js'
import { localBytes, pathRoom } from './temp-tree.js'

/** What a download checks of its options and its manifest before it fetches a chunk (downloader.ts). */

/**
 * Every chosen path of a folder fits under downloads/NAME/ (temp-tree.ts
 * pathRoom): refused before the download starts, naming the first that does
 * not, rather than failing with ENAMETOOLONG once its chunks are in.
 */
export function assertPathsFit(
  manifest: TreeManifest,
  chosen: readonly boolean[] | undefined,
  downloadsDir: string,
): void {
  const room = pathRoom(downloadsDir, manifest.name)
  for (const [i, entry] of manifest.entries.entries()) {
    if (chosen !== undefined && !chosen[i]) continue
    // At most 3 UTF-8 bytes a UTF-16 unit, and portableName adds at most 1 byte a component: surely fits.
    if (entry.path.length * 4 <= room) continue
    const bytes = localBytes(entry.path)
    if (bytes <= room) continue
    throw new P2PError(
      'E_TOO_LARGE',
      `"${printable(entry.path, 120)}" is ${bytes} bytes; under ${printable(downloadsDir)} a path of this folder may have at most ${Math.max(0, room)} (the system's 4,096-byte PATH_MAX counts ${printable(downloadsDir)}/${printable(portableName(manifest.name))}/ too): pick a shorter --downloads-dir, or leave the file out with --only`,
    )
  }
}

/** A folder's --only selection (tree-select.ts); none when everything is wanted. */
export function selectionOf(manifest: ItemManifest, only: readonly string[] | undefined): Selection | undefined {
  if (only === undefined || only.length === 0) return undefined
  if (!isTree(manifest))
    throw new P2PError('E_USAGE', `--only chooses files of a folder; ${manifest.name} is a single file`)
  return selectEntries(manifest, only, layoutOf(manifest))
}

/** Every limit a finite number, at least 1 (0 for waitMs): a program's mistake is E_USAGE here, not a hang later. */
export function checkLimits(limits: DownloadLimits): void {
  for (const [key, value] of Object.entries(limits)) {
    const least = key === 'waitMs' ? 0 : 1
    if (typeof value !== 'number' || !Number.isFinite(value) || value < least) {
      throw new P2PError('E_USAGE', `download limit ${key} must be a number of at least ${least}, not ${String(value)}`)
    }
  }
}

/**
 * A manifest no peer delivered (E_NOT_FOUND, E_NO_PEER) while peers that have it were left out for the allow-list:
 * E_AUTH naming them, which is what is wrong (the message asked whether a seeder was running). Else `err` as it is.
 */
export function notAllowedInstead(err: unknown, offList: readonly string[]): unknown {
  if (offList.length === 0 || !(hasCode(err, 'E_NOT_FOUND') || hasCode(err, 'E_NO_PEER'))) return err
  const named = someOf(offList)
  return new P2PError(
    'E_AUTH',
    offList.length === 1
      ? `${(err as Error).message}; the peer that has it is not on the allow-list (${named}): add its peer ID to --allow if you trust it`
      : `${(err as Error).message}; ${offList.length} peers that have it are not on the allow-list (${named}): add their peer IDs to --allow if you trust them`,
  )
}

/**
 * A path in the downloads directory not found because the directory itself went (removed or renamed while the
 * download ran): E_IO saying so, and that a re-run places what the store holds without fetching it again. It
 * was "not found while finishing …part" (E_NOT_FOUND, exit 3: what a file no peer has gets). Else `err` as it is.
 */
export async function downloadsDirGoneInstead(err: unknown, downloadsDir: string): Promise<unknown> {
  if (!hasCode(err, 'E_NOT_FOUND') || err.details?.errno !== 'ENOENT') return err
  const gone = await stat(downloadsDir).then(
    (st) => !st.isDirectory(),
    (e: NodeJS.ErrnoException) => e.code === 'ENOENT' || e.code === 'ENOTDIR',
  )
  if (!gone) return err
  return new P2PError(
    'E_IO',
    `the downloads directory ${printable(downloadsDir)} went away while the download ran (removed or renamed): what was fetched is in the chunk store; run the same command again to place it without fetching it again`,
    { errno: 'ENOENT' },
    { cause: err },
  )
}
