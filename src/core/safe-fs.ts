import { createHash } from 'node:crypto'
import { type BigIntStats, closeSync, constants, fstatSync, lstatSync, openSync, type Stats } from 'node:fs'
import { type FileHandle, lstat, mkdir, open, stat } from 'node:fs/promises'
import { isAbsolute, join, relative, sep } from 'node:path'
import { fromFsError, P2PError } from './errors.js'
import { type FileIdentity, identityOf, sameFile } from './file-identity.js'
import { makeDirectories } from './make-dirs.js'
import { readFully, readFullySync } from './read-fully.js'

/**
 * Reading and reaching the files a program keeps for itself (the chunk
 * store's manifests, records, locks, peer id; the dictionary file) when
 * someone else may have put something else there. A path is opened without
 * following a final symlink (unless asked to) and with O_NONBLOCK, so a FIFO
 * or a device opens at once — a plain open of a FIFO waits for a writer
 * forever, and a signal cannot stop a process stuck in it — and is refused by
 * type after fstat; a size bound caps what is read. Directories inside the
 * store are checked with lstat: a symlink there is refused, never followed.
 */

export interface RegularFileOptions {
  /** Refuse (E_TOO_LARGE) a file larger than this. */
  maxBytes: number
  /** Follow a symlink at the last component (for paths the user chose, like the dictionary file). */
  followSymlinks?: boolean
}

/** Close a descriptor whose close has nothing left to report (read-only, or already synced), ignoring errors. */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd)
  } catch {
    // nothing to do: the descriptor is gone either way
  }
}

/** Whether an error means the path is simply not there. */
export function isAbsent(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOENT' || code === 'ENOTDIR'
}

/** lstat of `path`, undefined when nothing is there; any other failure is an error naming `what`. */
export async function lstatIfPresent(path: string, what: string): Promise<Stats | undefined> {
  try {
    return await lstat(path)
  } catch (err) {
    if (isAbsent(err)) return undefined
    throw fromFsError(err, what)
  }
}

/**
 * A read-only handle on a regular file, with its stats. Throws the open's
 * error when absent (see isAbsent), E_IO when the path is a symlink, FIFO,
 * device, socket or directory, E_TOO_LARGE past `maxBytes`.
 */
export async function openRegularFile(
  path: string,
  options: RegularFileOptions,
): Promise<{ handle: FileHandle; stats: Stats }> {
  let handle: FileHandle
  try {
    handle = await open(path, openFlags(options))
  } catch (err) {
    throw openError(path, err)
  }
  try {
    return { handle, stats: checkRegular(path, await handle.stat(), options) }
  } catch (err) {
    await handle.close().catch(() => undefined)
    throw err
  }
}

/** readRegularFile for the few reads that happen before anything async can run (the config file). */
export function readRegularFileSync(path: string, options: RegularFileOptions): Buffer {
  let fd: number
  try {
    fd = openSync(path, openFlags(options))
  } catch (err) {
    throw openError(path, err)
  }
  try {
    const bytes = Buffer.allocUnsafe(checkRegular(path, fstatSync(fd), options).size)
    return bytes.subarray(0, readFullySync(fd, bytes, bytes.length, 0)) // shorter if it shrank meanwhile
  } finally {
    closeSync(fd)
  }
}

function openFlags(options: RegularFileOptions): number {
  return constants.O_RDONLY | constants.O_NONBLOCK | (options.followSymlinks ? 0 : constants.O_NOFOLLOW)
}

function openError(path: string, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code
  // O_NOFOLLOW on a symlink: ELOOP (Linux, macOS), EMLINK (FreeBSD), EFTYPE (NetBSD).
  return code === 'ELOOP' || code === 'EMLINK' || code === 'EFTYPE' ? notRegular(path, 'a symbolic link') : err
}

function checkRegular(path: string, stats: Stats, options: RegularFileOptions): Stats {
  if (!stats.isFile()) throw notRegular(path, kindOf(stats))
  if (stats.size > options.maxBytes)
    throw new P2PError('E_TOO_LARGE', `${path} is ${stats.size} bytes, over the ${options.maxBytes}-byte limit for it`)
  return stats
}

/** The bytes of a regular file (see openRegularFile), at most `maxBytes` of them. */
export async function readRegularFile(path: string, options: RegularFileOptions): Promise<Buffer> {
  const { handle, stats } = await openRegularFile(path, options)
  try {
    const bytes = Buffer.allocUnsafe(stats.size)
    return bytes.subarray(0, await readFully(handle.fd, bytes, bytes.length, 0)) // shorter if it shrank meanwhile
  } finally {
    await handle.close().catch(() => undefined)
  }
}

/** The SHA-256 (hex) of a regular file (see openRegularFile), read a MiB at a time: memory does not grow with its size. */
export async function sha256OfRegularFile(path: string, options: RegularFileOptions): Promise<string> {
  const { handle } = await openRegularFile(path, options)
  try {
    const hash = createHash('sha256')
    const piece = Buffer.allocUnsafe(1024 * 1024)
    for (let at = 0; ; ) {
      const { bytesRead } = await handle.read(piece, 0, piece.length, at)
      if (bytesRead === 0) return hash.digest('hex')
      hash.update(piece.subarray(0, bytesRead))
      at += bytesRead
    }
  } finally {
    await handle.close().catch(() => undefined)
  }
}

function notRegular(path: string, kind: string): P2PError {
  return new P2PError('E_IO', `${path} is ${kind}, not a regular file: remove or replace it`, { notRegular: kind })
}

/**
 * Why a file the user named (a config file, an allow-list) could not be read, in a few words, without its path
 * (the caller names it) and without advice to remove it (a directory named by mistake is not to be removed).
 */
export function unreadableReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return 'file not found'
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  const kind = err instanceof P2PError ? err.details?.notRegular : undefined
  if (typeof kind === 'string')
    return kind === 'not a regular file' ? 'it is not a regular file' : `it is ${kind}, not a regular file`
  return (err as Error).message
}

function kindOf(st: Stats | BigIntStats): string {
  if (st.isFIFO()) return 'a FIFO'
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device'
  if (st.isSocket()) return 'a socket'
  if (st.isDirectory()) return 'a directory'
  return 'not a regular file'
}

/**
 * Every directory from below `root` down to `dir` is a real directory (not a
 * symlink to one, nor a file); with `create`, missing ones are made. Returns
 * the identity of `dir`, to check later that it is still the same directory.
 * `root` itself is the user's choice and may be a link.
 */
export async function realDirectories(root: string, dir: string, create = false): Promise<FileIdentity> {
  const rel = relativeInside(root, dir)
  if (rel === '') {
    if (create) await makeDirectories(root)
    return identityOf(await stat(root, { bigint: true }))
  }
  let path = root
  let st: BigIntStats | undefined
  for (const [i, part] of rel.split(sep).entries()) {
    path = join(path, part)
    // One lstat per level when it exists (the common case); made only when missing.
    st = await lstat(path, { bigint: true }).catch(async (err: unknown) => {
      if (!create || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      await mkdir(path, { recursive: i === 0 }).catch((e: unknown) => {
        // the first level may need the root too
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      })
      return lstat(path, { bigint: true })
    })
    assertRealDirectory(path, st)
  }
  return identityOf(st!)
}

/** realDirectories without `create`, synchronously (for disk.ts's replaceSmallFile). */
export function realDirectoriesSync(root: string, dir: string): void {
  const rel = relativeInside(root, dir)
  let path = root
  for (const part of rel === '' ? [] : rel.split(sep)) {
    path = join(path, part)
    assertRealDirectory(path, lstatSync(path, { bigint: true }))
  }
}

function relativeInside(root: string, dir: string): string {
  const rel = relative(root, dir)
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
    throw new P2PError('E_INTERNAL', `${dir} is not inside ${root}`)
  return rel
}

function assertRealDirectory(path: string, st: BigIntStats): void {
  if (!st.isDirectory()) {
    throw new P2PError(
      'E_IO',
      `${path} is ${st.isSymbolicLink() ? 'a symbolic link' : kindOf(st)}, not a directory: the chunk store never follows links out of itself; remove it`,
    )
  }
}

/** `dir` is still the real directory `before` described (nothing swapped it for a link meanwhile). */
export async function assertSameDirectory(dir: string, before: FileIdentity): Promise<void> {
  const now = await lstat(dir, { bigint: true })
  if (!now.isDirectory() || !sameFile(identityOf(now), before)) {
    throw new P2PError(
      'E_IO',
      `${dir} was replaced while in use (${now.isSymbolicLink() ? 'by a symbolic link' : 'by something else'}); stopped rather than write through it`,
    )
  }
}
