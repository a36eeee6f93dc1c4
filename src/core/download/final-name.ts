import { constants } from 'node:fs'
import { copyFile, type FileHandle, link, lstat, open, readdir, rename, unlink } from 'node:fs/promises'
import { basename, dirname, extname, join } from 'node:path'
import { MAX_NAME_BYTES, TEMP_MARKER } from '../constants.js'
import { tempOwner, tempPathFor } from '../disk.js'
import { fromFsError, P2PError } from '../errors.js'
import { type FileIdentity, identityOf, sameFile } from '../file-identity.js'
import { shorten } from '../names.js'
import { isRunning } from '../stale-temps.js'
import { copyAcross, isCutShortCopy } from './cross-copy.js'
import { sameContent } from './same-content.js'
import { syncUserDir } from './tree-durable.js'

/**
 * Claiming a download's final name: `<name>.part` made from the verified
 * `data`, then the final name or a numbered alternative (all within 255
 * bytes) claimed with link(2), never clobbering a different file; and the
 * other side of that link: a re-run never writes into a finished download
 * that still shares `data`'s inode.
 */

export interface StitchResult {
  path: string
  sha256: string
  /** True when an identical file was already at the final name. */
  alreadyThere: boolean
}

const CROSS_DEVICE = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP'])

/**
 * The verified `data` under a temporary name in the downloads directory:
 * `partPath` (`<name>.part`), or a temporary name beside it when a file
 * that is not ours holds that name (another download of a file of the same
 * name finishing now, a browser's unfinished download): never removed, and
 * never taken for ours. Only what a run of ours left there when it was
 * stopped goes: a link to `data` (the entry's lock keeps every other process
 * off it), or the very bytes being named (`same`: the link a stopped run
 * left, once the re-run gave `data` a copy of its own; the file is named
 * with those bytes either way).
 * Made as a hard link to `dataPath`, or a copy of it (fsynced) across
 * filesystems. It must be the file that was verified (`verified`: `data` as
 * the download opened it): were `data` swapped meanwhile for a link or
 * another file, the link would name that instead, and the final name would
 * hold bytes nobody checked. link(2) does not follow a symlink; the identity
 * is checked on what it made (a copy: on the source, just before). Returns
 * the path it made.
 */
export async function materialize(
  dataPath: string,
  partPath: string,
  verified: FileIdentity,
  same?: { size: number; sha256: string },
): Promise<string> {
  await sweepOurTemps(dataPath, partPath, same)
  if ((await makeFrom(dataPath, partPath, verified)) === 'made') return partPath
  if (await leftByUs(partPath, dataPath, same)) {
    await unlink(partPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err // gone meanwhile: the name is free again
    })
    if ((await makeFrom(dataPath, partPath, verified)) === 'made') return partPath
  }
  const beside = tempPathFor(partPath)
  if ((await makeFrom(dataPath, beside, verified)) === 'made') return beside
  throw new P2PError('E_IO', `${beside} appeared while it was being made; run again`)
}

/**
 * What a run of ours stopped between making a temporary name beside `partPath` and naming the file left there
 * (`tempPathFor`'s names, of a process no longer running): removed when it is a link to `data`, the very bytes
 * being named, or a copy of them cut short, so that no such litter stays in the downloads directory.
 */
async function sweepOurTemps(dataPath: string, partPath: string, same?: { size: number; sha256: string }) {
  const dir = dirname(partPath)
  const prefix = `${basename(partPath)}${TEMP_MARKER}`
  for (const name of await readdir(dir).catch(() => [])) {
    const pid = name.startsWith(prefix) ? tempOwner(name) : undefined
    if (pid === undefined || pid === process.pid || isRunning(pid)) continue
    const path = join(dir, name)
    if ((await leftByUs(path, dataPath, same)) || (await isCutShortCopy(path, dataPath)))
      await unlink(path).catch(() => undefined)
  }
}

/** Whether `path` is what a run of ours made from `data`: a link to it, or the very bytes being named. */
async function leftByUs(path: string, dataPath: string, same?: { size: number; sha256: string }): Promise<boolean> {
  return (await sameInode(path, dataPath)) || (same !== undefined && (await sameContent(path, same.size, same.sha256)))
}

/** `path` made from `dataPath` (a link, or a copy across filesystems); 'taken' when a file already has that name. */
async function makeFrom(dataPath: string, path: string, verified: FileIdentity): Promise<'made' | 'taken'> {
  try {
    await link(dataPath, path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? ''
    if (code === 'EEXIST') return 'taken'
    if (!CROSS_DEVICE.has(code)) throw err
    await assertIdentity(dataPath, verified)
    return copyAcross(dataPath, path)
  }
  await assertIdentity(path, verified).catch(async (err: unknown) => {
    await unlink(path).catch(() => undefined)
    throw err
  })
  return 'made'
}

async function assertIdentity(path: string, verified: FileIdentity): Promise<void> {
  const st = await lstat(path, { bigint: true })
  if (!st.isFile() || !sameFile(identityOf(st), verified)) {
    throw new P2PError(
      'E_IO',
      `${path} is not the file that was verified (the store's data was replaced during the download); run again`,
    )
  }
}

/**
 * The verified `data` under its final name: `<name>.part` (or a temporary
 * name beside it) made from it (materialize), `beforeFinalName`
 * (fault-injection tests), then the name claimed (place), then the directory
 * synced. What materialize made is removed if a step before the name fails;
 * a failed sync after it is E_IO naming the file, which stays.
 */
export async function nameVerified(options: {
  dataPath: string
  partPath: string
  verified: FileIdentity
  dir: string
  name: string
  size: number
  sha256: string
  force: boolean
  beforeFinalName?: (() => void | Promise<void>) | undefined
}): Promise<StitchResult> {
  const { dataPath, partPath } = options
  let placed: StitchResult
  let made: string | undefined
  try {
    made = await materialize(dataPath, partPath, options.verified, options)
    await options.beforeFinalName?.()
    placed = await place({ ...options, partPath: made })
  } catch (err) {
    if (made !== undefined) await unlink(made).catch(() => undefined)
    throw fromFsError(err, `finishing ${made ?? partPath}`)
  }
  // The name durable too, as the bytes were before it (a power loss must not take it back); also a name found
  // already there, which a run stopped between placing it and this sync may have left.
  await syncUserDir(options.dir).catch((err: unknown) => {
    throw new P2PError(
      'E_IO',
      `${placed.path} holds the verified file, but syncing ${options.dir} failed (${(err as Error).message}): its name may not survive a power loss`,
      { errno: (err as NodeJS.ErrnoException).code },
      { cause: err },
    )
  })
  return placed
}

/** Give `partPath` its final name in `dir`: `name`, or `name (1)`… when a different file holds it (unless `force`). */
export async function place(options: {
  partPath: string
  dir: string
  name: string
  size: number
  sha256: string
  force: boolean
}): Promise<StitchResult> {
  const { partPath, dir, name, sha256 } = options
  if (options.force) {
    const path = join(dir, name)
    await rename(partPath, path)
    await unlink(partPath).catch(() => undefined) // still there when both names were one file already
    return { path, sha256, alreadyThere: false }
  }
  for (let n = 0; n < 10_000; n++) {
    const path = join(dir, n === 0 ? name : numbered(name, n))
    try {
      await link(partPath, path)
      await unlink(partPath)
      return { path, sha256, alreadyThere: false }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      // Only a file of ours counts as already there: a symbolic link at the name, or another user's file (a hard
      // link another user made can only name a file of theirs, under Linux's default protected_hardlinks), has its bytes where someone else may change them
      // once we report them verified (an attacker pass, forty-ninth session). Our own hard links are ours: a
      // finished download is one to its store's `data`.
      if ((await sameInode(path, partPath)) || (await sameContent(path, options.size, sha256, { ours: true }))) {
        await unlink(partPath)
        return { path, sha256, alreadyThere: true }
      }
    }
  }
  throw new P2PError('E_EXISTS', `too many files named like ${name} in ${dir}: use --force or clean up`)
}

/** "movie.mkv" → "movie.mkv.part"; a name too long for the suffix is shortened first. */
export function partName(name: string): string {
  return `${shorten(name, MAX_NAME_BYTES - '.part'.length)}.part`
}

/** "movie.mkv" → "movie (1).mkv"; names without an extension (or dotfiles) get the suffix at the end. */
export function numbered(name: string, n: number): string {
  const ext = extname(name)
  const stem = ext && ext !== name ? name.slice(0, -ext.length) : name
  const suffix = stem === name ? ` (${n})` : ` (${n})${ext}`
  if (Buffer.byteLength(suffix) < MAX_NAME_BYTES)
    return `${shorten(stem, MAX_NAME_BYTES - Buffer.byteLength(suffix))}${suffix}`
  return `${shorten(name, MAX_NAME_BYTES - Buffer.byteLength(` (${n})`))} (${n})` // an extension too long to keep whole
}

/** Both names are one file, neither a symbolic link (a re-run of a finished download finds its own link there). */
export async function sameInode(a: string, b: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([lstat(a, { bigint: true }), lstat(b, { bigint: true })])
    if (!x.isFile() || !y.isFile()) return false
    return sameFile(identityOf(x), identityOf(y))
  } catch {
    return false
  }
}

/**
 * `data` shares its inode with another name — the downloaded file of an
 * earlier run, which the user may have edited: writing into it would change
 * their file. Give the entry its own copy (in the kernel), and resume from
 * that; the chunks in it are verified again anyway. Takes `handle` (closed
 * here) and returns the handle on the copy.
 */
export async function privateCopy(handle: FileHandle, path: string): Promise<FileHandle> {
  await handle.close()
  const temp = tempPathFor(path)
  try {
    await copyFile(path, temp, constants.COPYFILE_EXCL)
    await rename(temp, path)
  } catch (err) {
    await unlink(temp).catch(() => undefined)
    throw err
  }
  return open(path, constants.O_RDWR | constants.O_NOFOLLOW)
}
