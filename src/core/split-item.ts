import type { Stats } from 'node:fs'
import { readdir, realpath, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve, sep } from 'node:path'
import { DEFAULT_CHUNK_SIZE } from './constants.js'
import { fromFsError, P2PError } from './errors.js'
import { identityKey } from './file-identity.js'
import type { Collaborators } from './log.js'
import { validateName } from './names.js'
import { printable } from './printable.js'
import { type SplitOptions, type SplitResult, splitFile } from './split.js'
import { checkChunkSize } from './split-source.js'
import { type SplitTreeResult, splitTree } from './split-tree.js'

/**
 * `p2p-split PATH`: a file is split as a version-1 item (split.ts), a
 * directory as a folder, one version-2 item (split-tree.ts).
 */

export interface SplitPathOptions extends SplitOptions {
  /** A folder: follow symbolic links that stay inside it (never one that leads out). */
  followSymlinks?: boolean
  /** A folder: most entries (files and directories) it may hold. */
  maxEntries?: number
  /**
   * The command's own private files and directories (its log directory, config file, identity, swarm secret,
   * allow-list): a folder may hold none, and a file may be none of them nor inside one (refusePrivatePath).
   */
  privatePaths?: readonly PrivatePath[]
}

/** A private file or directory of the command, with what it is and the flag that moves it. */
export interface PrivatePath {
  path: string
  what: string
  flag: string
  /** Made by the command when missing (a log directory, an identity): checked where it would be made too. */
  made?: boolean
}

/** A file's result, or a folder's (`files` and `dirs` set, with what the walk skipped). */
export type SplitPathResult = SplitResult | SplitTreeResult

export function isFolderResult(result: SplitPathResult): result is SplitTreeResult {
  return 'files' in result
}

/**
 * What is at `path`, to be split: E_NOT_FOUND when nothing (E_BAD_NAME for a name whose bytes are not UTF-8, which
 * Node cannot find by the name it reads), else the filesystem's error. The commands ask it of every path before
 * their log and store are made, so that a mistyped name leaves nothing behind; `splitPath` asks it again.
 */
export async function statSplitPath(path: string): Promise<Stats> {
  // `p2p-split "$FILE"` with FILE unset: a mistake of the command line, not a file that is missing.
  if (path === '') throw new P2PError('E_USAGE', 'an empty path: give the file or folder to split')
  return stat(path).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      const name = basename(resolve(path))
      if (name.includes('\uFFFD')) validateName(name)
      throw new P2PError('E_NOT_FOUND', `no such file: ${path}`)
    }
    throw fromFsError(err, `opening ${path}`)
  })
}

export async function splitPath(
  path: string,
  options: SplitPathOptions,
  collaborators: Collaborators = {},
): Promise<SplitPathResult> {
  const st = await statSplitPath(path)
  // Taken once: checked here by name, and again on what is opened (a link swapped in after this check).
  const files = await privateFiles(options.privatePaths ?? [])
  await refusePrivatePath(path, options.store.root, options.privatePaths ?? [], files)
  if (!st.isDirectory()) return splitFile(path, { ...options, privateFiles: files }, collaborators)
  return splitTree(
    path,
    { ...options, chunkSize: checkChunkSize(options.chunkSize ?? DEFAULT_CHUNK_SIZE), privateFiles: files },
    collaborators,
  )
}

/**
 * The private files by identityKey, and those a private directory holds (its log files: the first
 * MAX_DIRECTORY_FILES): a hard link to one, or a link swapped in before the open, is the file itself.
 */
async function privateFiles(paths: readonly PrivatePath[]): Promise<Map<string, string>> {
  const files = new Map<string, string>()
  const add = async (path: string, what: string): Promise<void> => {
    const st = await stat(path, { bigint: true }).catch(() => undefined)
    if (st?.isFile()) files.set(identityKey(st), what)
  }
  for (const p of paths) {
    const st = await stat(p.path).catch(() => undefined)
    if (st?.isFile()) await add(p.path, `${p.what} ${printable(p.path)}`)
    if (!st?.isDirectory()) continue
    const names = (await readdir(p.path).catch(() => [])).slice(0, MAX_DIRECTORY_FILES)
    for (const name of names) await add(join(p.path, name), `a file of ${p.what} ${printable(p.path)}`)
  }
  return files
}

/** Files of a private directory taken by identity (a log directory holds one file per command). */
const MAX_DIRECTORY_FILES = 256

/**
 * A folder holding the chunk store, or a private file or directory of the command, would share them (and
 * grow with every split of it). Attacker passes: `p2p share .` served `logs/share.log`, and a second share of
 * the unchanged folder failed, E_EXISTS, its log having grown; a folder holding the config file that named the
 * identity and swarm secret beside it served both, and a downloader got the seeder's key. Checked where each
 * is, or for what the command makes, where it would be made, so that a command can ask before it makes them
 * (the CLI does, before its log opens: a refused `p2p-split .` left `chunks/` and `logs/split.log` in the
 * folder). What is only read and does not exist is nowhere. A file given by name is refused when it is one of
 * them, under any name (a hard link), or inside one (the attack on the fix: `p2p share *` in the directory of
 * the config file served the identity and the secret it named).
 */
export async function refusePrivatePath(
  path: string,
  storeRoot: string,
  privatePaths: readonly PrivatePath[],
  /** privateFiles(privatePaths), when the caller has it already. */
  files?: ReadonlyMap<string, string>,
): Promise<void> {
  const st = await stat(path, { bigint: true }).catch(() => undefined)
  if (st === undefined) return
  const all = [{ path: storeRoot, what: 'the chunk store', flag: '--chunks-dir', made: true }, ...privatePaths]
  if (st.isDirectory()) {
    for (const p of all) await refuseInside(path, p)
    return
  }
  if (!st.isFile()) return // a pipe or device: splitFile refuses it, saying so
  const named = (files ?? (await privateFiles(privatePaths))).get(identityKey(st))
  if (named !== undefined) throw new P2PError('E_USAGE', `${printable(path)} is ${named}: it is never shared`)
  const real = await realpath(path)
  for (const p of all) {
    const where = await placeOf(p)
    if (where !== undefined && real !== where && isWithin(real, where))
      throw new P2PError('E_USAGE', `${printable(path)} is inside ${p.what} ${where}: it is never shared`)
  }
}

/** Where a private path is, or for one the command makes, where it would be made; undefined: nowhere. */
function placeOf({ path, made }: PrivatePath): Promise<string | undefined> {
  const inner = resolve(path)
  return made ? whereItIsOrWouldBe(inner) : realpath(inner).catch(() => undefined)
}

async function refuseInside(dir: string, p: PrivatePath): Promise<void> {
  const { what, flag } = p
  const [folder, real] = await Promise.all([realpath(dir), placeOf(p)])
  if (real !== undefined && isWithin(real, folder))
    throw new P2PError('E_USAGE', `${what} ${real} is inside ${dir}: give a ${flag} outside the folder to share it`)
}

/** The real path of `path`, or of its nearest existing parent joined with the rest; undefined if none resolves. */
async function whereItIsOrWouldBe(path: string): Promise<string | undefined> {
  try {
    return await realpath(path)
  } catch (err) {
    const parent = dirname(path)
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === path) return undefined
    const real = await whereItIsOrWouldBe(parent)
    return real === undefined ? undefined : join(real, basename(path))
  }
}

/** Whether real path `inner` is `outer` or below it. */
function isWithin(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer.endsWith(sep) ? outer : `${outer}${sep}`)
}
