import { type BigIntStats, fstatSync, lstatSync, openSync } from 'node:fs'
import { lstat, realpath, rm, unlink } from 'node:fs/promises'
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path'
import { MAX_NAME_BYTES } from '../constants.js'
import { fromFsError, P2PError } from '../errors.js'
import { type FileIdentity, identityOf } from '../file-identity.js'
import { portableName, shorten } from '../names.js'
import { printable } from '../printable.js'
import { readRegularFile } from '../safe-fs.js'
import { CREATE_NEW } from '../write-fully.js'
import type { MadeTable } from './made-table.js'

/**
 * Where a folder download's entries land on disk (temp-tree.ts): the
 * temporary tree `downloads/<NAME>.part-<random>/`, each manifest path
 * below it with every component made portable (names.ts), the room PATH_MAX
 * leaves for those paths, and the leftover of a killed run.
 */

const SUFFIX_BYTES = '.part-'.length + 12

/** Longest absolute path the kernel takes, in bytes (Linux's PATH_MAX, its terminating NUL left out). */
const PATH_MAX_BYTES = 4095

/** `/proc/self/fd/<fd>/`, the longest: a folder filled in is reached below it (tree-fill.ts). */
const THROUGH_DESCRIPTOR_BYTES = '/proc/self/fd/2147483647/'.length

/**
 * Bytes a manifest path may have under `downloadsDir` for the folder
 * `name`: every entry is made at `<downloadsDir>/<temporary name>/<local
 * path>` and, for a re-run's comparison, read at `<downloadsDir>/<NAME>/…`
 * (or, filling one in, at `/proc/self/fd/<fd>/…`, longer under a short downloads directory),
 * and the kernel refuses a path over PATH_MAX (4,096 bytes with its NUL)
 * however short each component is.
 */
export function pathRoom(downloadsDir: string, name: string): number {
  const portable = portableName(name)
  const temp = Buffer.byteLength(shorten(portable, MAX_NAME_BYTES - SUFFIX_BYTES)) + SUFFIX_BYTES
  const prefix = Buffer.byteLength(resolve(downloadsDir)) + 1 + Math.max(temp, Buffer.byteLength(portable)) + 1
  return PATH_MAX_BYTES - Math.max(prefix, THROUGH_DESCRIPTOR_BYTES)
}

/** A manifest path's length once saved (its components made portable), in bytes. */
export function localBytes(path: string): number {
  return Buffer.byteLength(localOf(path))
}

/** The temporary tree's name before its random part. */
export function tempPrefix(name: string): string {
  return `${shorten(portableName(name), MAX_NAME_BYTES - SUFFIX_BYTES)}.part-`
}

/**
 * A manifest path as a path below the tree's root: each component made
 * portable. The manifest's own string when that changes nothing (as for
 * most paths on Linux): a folder's table of what was made keeps one string
 * per entry, not two.
 */
export function localOf(path: string): string {
  const parts = path.split('/')
  let same = sep === '/'
  for (let i = 0; i < parts.length; i++) {
    const portable = portableName(parts[i]!)
    if (portable !== parts[i]) {
      parts[i] = portable
      same = false
    }
  }
  return same ? path : parts.join(sep)
}

/**
 * The record of a temporary tree: its name, the downloads directory it is in (a run into another directory,
 * or from another working directory, still finds it: it was left for ever, and its record lost), and its
 * device and inode, so that a record pointed elsewhere removes nothing but that very directory.
 */
export async function leftoverRecord(root: string, id: FileIdentity): Promise<string> {
  return `${basename(root)}\n${await realpath(dirname(root))}\n${id.dev} ${id.ino}`
}

/** A temporary tree's name: the entry's prefix and twelve hex digits (temp-tree.ts). */
const leftoverName = (name: string, prefix: string): boolean =>
  name.startsWith(prefix) && /^[0-9a-f]{12}$/.test(name.slice(prefix.length))

/** The temporary tree a killed run left (named in the record), removed when it is a real directory there. */
export async function removeLeftover(o: { recordPath: string; name: string }): Promise<void> {
  let text: string
  try {
    text = (await readRegularFile(o.recordPath, { maxBytes: 8192 })).toString('utf8')
  } catch {
    return // none
  }
  const [name = '', dir = '', recordedId] = text.split('\n')
  // Only a name of the form we make for this entry, in a directory reached through no link, that is the very
  // directory made (its device and inode): whatever the record says. A record of an earlier version (its
  // name alone) proves no directory ours: it is dropped, the tree it named left.
  const ours = leftoverName(name, tempPrefix(o.name)) && recordedId !== undefined && isAbsolute(dir)
  if (ours && (await realpath(dir).catch(() => '')) === dir) {
    const path = join(dir, name)
    const st = await lstat(path, { bigint: true }).catch(() => undefined)
    // rm does not follow links inside; a link in its place is left alone.
    if (st?.isDirectory() && recordedId === `${st.dev} ${st.ino}`)
      await rm(path, { recursive: true, force: true }).catch(() => undefined)
  }
  await unlink(o.recordPath).catch(() => undefined)
}

/** A new file at `target`, created exclusively and never through a link, executable or not: its descriptor. */
export function createExclusive(target: string, exec: boolean): number {
  return openSync(target, CREATE_NEW, exec ? 0o777 : 0o666)
}

/**
 * What a create made: an entry the path now holds (true), or the file the
 * create opened, which the path must still hold once it is written (a file
 * swapped while it was written is not taken for it).
 */
export type Made = true | FileIdentity

/** The file open at `fd`. */
export function openedIdentity(fd: number): FileIdentity {
  return identityOf(fstatSync(fd, { bigint: true }))
}

/** What a make through a descriptor meets where a directory of ours was removed or replaced by a link or a file. */
export const GONE = new Set(['ENOENT', 'ELOOP', 'ENOTDIR'])

export function swapped(path: string): P2PError {
  return new P2PError(
    'E_IO',
    `${printable(path)} was replaced while the download was building it (by a link or something else); stopped rather than write through it`,
  )
}

/**
 * An error making the entry at `shown`, worded for the user. Made through a
 * descriptor (`anchored`), reaching the directory or making the entry
 * (`making`, not writing into it) fails only where a directory of ours was
 * removed or replaced; and the message names the user's path, not
 * `/proc/self/fd/…`.
 */
export function buildingError(err: unknown, shown: string, o: { anchored: boolean; making: boolean }): P2PError {
  const e = err as NodeJS.ErrnoException
  if (o.anchored) {
    if (o.making && GONE.has(e.code ?? '')) return swapped(shown)
    if (e.path?.startsWith('/proc/')) {
      e.message = e.message.split(e.path).join(shown)
      e.path = shown
    }
  }
  return fromFsError(err, `building ${printable(shown)}`)
}

/**
 * Every directory from the root down to `local` is still what the tree at
 * `root` made (`made`): checking only the last one would pass when a
 * directory above it was moved away and replaced by a link (the path then
 * resolves, through the link, to the very same directory).
 */
export function assertChain(root: string, made: MadeTable, local: string): void {
  const parts = local === '' ? [] : local.split(sep)
  for (let depth = 0; depth <= parts.length; depth++) {
    const slot = made.slotOf(parts.slice(0, depth).join(sep))
    if (slot === undefined) throw new P2PError('E_INTERNAL', `${printable(local)}: a directory above it was not made`)
    assertMade(root, made, slot)
  }
}

/**
 * The entry in `slot` is still what the tree at `root` made there: a real directory or file, same device and
 * inode, and a file of the size written (a file removed and another made in its place may get its inode back at
 * once on ext4: an attacker pass placed such a file under the receipt of the one written).
 */
export function assertMade(root: string, made: MadeTable, slot: number): void {
  const path = join(root, made.local(slot))
  let st: BigIntStats
  try {
    st = lstatSync(path, { bigint: true })
  } catch (err) {
    // Gone, or a directory above it now a file: not what was made, as surely as a link there.
    if (GONE.has((err as NodeJS.ErrnoException).code ?? '')) throw swapped(path)
    throw err
  }
  const dir = made.isDir(slot)
  if ((dir ? !st.isDirectory() : !st.isFile()) || !made.holds(slot, identityOf(st))) throw swapped(path)
  if (!dir && st.size !== BigInt(made.check(slot)!.size)) throw swapped(path)
}
