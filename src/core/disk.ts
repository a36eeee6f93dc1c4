import { randomBytes } from 'node:crypto'
import { closeSync, openSync, unlinkSync } from 'node:fs'
import { type FileHandle, link, open, rename, stat, statfs, unlink, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { TEMP_MARKER } from './constants.js'
import { fromFsError, P2PError } from './errors.js'
import { makeDirectories } from './make-dirs.js'
import { realDirectories, realDirectoriesSync } from './safe-fs.js'
import { CREATE_NEW, writeFully, writeFullySync } from './write-fully.js'

/**
 * Disk helpers shared by the store, the downloader and the dictionary: atomic
 * writes, writability and space probes, file stamps.
 */

const TEMP_RANDOM_BYTES = 4
const TEMP_NAME = new RegExp(`${TEMP_MARKER.replace('.', '\\.')}(\\d+)-[0-9a-f]{${2 * TEMP_RANDOM_BYTES}}$`)

/** The process's own random start for the 8 hex digits of its temporary names (see tempPathFor). */
let tempBase: number | undefined
let tempCount = 0

/**
 * A temporary name beside `path`: `<path>.tmp-<pid>-<8 hex>` (the pid lets
 * stale-temps.ts tell a dead writer's). The hex digits count up from a random
 * start taken once per process: distinct within the process (2^32 names)
 * and unlikely to meet another's, without a call into the random source for
 * every name (a live download makes several a second).
 */
export function tempPathFor(path: string): string {
  tempBase ??= randomBytes(TEMP_RANDOM_BYTES).readUInt32BE(0)
  const n = (tempBase + tempCount++) >>> 0
  return `${path}${TEMP_MARKER}${process.pid}-${n.toString(16).padStart(2 * TEMP_RANDOM_BYTES, '0')}`
}

/** The pid in a name `tempPathFor` made; undefined for any other name. */
export function tempOwner(name: string): number | undefined {
  const m = TEMP_NAME.exec(name)
  const pid = m ? Number(m[1]) : Number.NaN
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
}

export interface AtomicWriteOptions {
  fsync?: boolean
  /**
   * A store's root: every directory below it on the way to `path` must be a
   * real directory (not a link) when the file is renamed into place; else the
   * temp file is removed and nothing stays behind the link.
   */
  within?: string
  /** The new file's mode (less the umask); default 0o666. */
  mode?: number
}

/**
 * All of `bytes` from offset 0, in plain writes of at most BUFFERED_WRITE_BYTES (write-fully.ts):
 * FileHandle.writeFile is several times slower for 1 MiB buffers (docs/benchmarks.md).
 */
function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  return writeFully(handle.fd, bytes, 0)
}

/**
 * Create `path`, which must not exist (EEXIST otherwise; a link there is not
 * followed), and write `data` into it: a new file, never one a reader may
 * already have open, so no temp file and rename are needed when nothing
 * publishes it before it is whole (a split's chunks, before their manifest:
 * the rename cost ~10 % of a split's system time, docs/benchmarks.md). A
 * failed write leaves the partial file where it is, unpublished: removing it
 * by name could remove another writer's file renamed there meanwhile.
 */
export async function writeNewFile(path: string, data: Uint8Array): Promise<void> {
  const handle = await open(path, CREATE_NEW)
  try {
    await writeAll(handle, data)
  } finally {
    await handle.close()
  }
}

/** Write `data` to a temp file beside `path`, optionally fsync, then rename over `path`. */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const temp = tempPathFor(path)
  const handle = await open(temp, 'wx', options.mode ?? 0o666)
  try {
    await writeAll(handle, typeof data === 'string' ? Buffer.from(data, 'utf8') : data)
    if (options.fsync) await handle.sync()
  } catch (err) {
    await handle.close().catch(() => undefined)
    await unlink(temp).catch(() => undefined)
    throw err
  }
  await handle.close()
  try {
    if (options.within !== undefined) await realDirectories(options.within, dirname(path))
    await rename(temp, path)
  } catch (err) {
    await unlink(temp).catch(() => undefined)
    throw err
  }
}

/**
 * writeFileAtomic's steps (no fsync), for a file of a few bytes that a live
 * download replaces several times a second (`data.have`, `data.vouch`): the
 * temp file made, written and closed synchronously (on a local disk each
 * step takes microseconds, and the same steps as round trips through
 * libuv's pool cost about three times the CPU), the rename through the pool.
 * A rename over an existing file makes ext4 start writing the new file's
 * blocks out (auto_da_alloc): 0.1–0.2 ms alone, 1–2 ms beside a download's
 * writes, which the main thread would spend waiting (docs/benchmarks.md).
 * `within`'s directories are checked just before the rename is handed to
 * the pool, as writeFileAtomic checks them: a directory swapped for a link
 * while the rename waits there (only the store's owner can) is not caught.
 * Calls for one path must not overlap (each caller coalesces its own: one
 * at a time), or an older version could be renamed in last.
 * Text made piece by piece is written as it comes (writePiecesSync): the
 * dictionary file, tens of MiB under a flood, whose writes its coalescer
 * spaces by the CPU they take. Nothing else large: it holds the caller.
 */
export async function replaceSmallFile(
  path: string,
  data: Uint8Array | Iterable<string>,
  options: { within?: string; mode?: number } = {},
): Promise<void> {
  const temp = tempPathFor(path)
  const fd = openSync(temp, 'wx', options.mode ?? 0o666)
  try {
    if (data instanceof Uint8Array) writeFullySync(fd, data, 0)
    else writePiecesSync(fd, data)
  } catch (err) {
    closeSync(fd)
    unlinkQuietly(temp)
    throw err
  }
  closeSync(fd)
  try {
    if (options.within !== undefined) realDirectoriesSync(options.within, dirname(path))
    await rename(temp, path)
  } catch (err) {
    unlinkQuietly(temp)
    throw err
  }
}

/**
 * Text made piece by piece (a generator) written as it comes, in batches of about PIECES_CODE_UNITS: the
 * whole is never in memory, and making it happens within the caller's synchronous part, so whatever spaces
 * its runs by their CPU (coalescer.ts) counts it.
 */
function writePiecesSync(fd: number, pieces: Iterable<string>): void {
  let batch: string[] = []
  let units = 0
  let position = 0
  const flush = () => {
    const bytes = Buffer.from(batch.length === 1 ? batch[0]! : batch.join(''), 'utf8')
    writeFullySync(fd, bytes, position)
    position += bytes.byteLength
    batch = []
    units = 0
  }
  for (const piece of pieces) {
    if (piece.length >= PIECES_CODE_UNITS) {
      // A large piece alone, not joined into a batch first: one copy of it, not two.
      if (units > 0) flush()
      batch = [piece]
    } else batch.push(piece)
    units += piece.length
    if (units >= PIECES_CODE_UNITS) flush()
  }
  if (units > 0) flush()
}

/** What writePiecesSync gathers before a write, in UTF-16 code units (a string's length). */
const PIECES_CODE_UNITS = 256 * 1024

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path)
  } catch {
    // gone already, or a stale temp for stale-temps.ts to remove
  }
}

/**
 * Publish `data` at `path` only if nothing is there: written to a temp file
 * (created with `mode`, synced unless `sync` is false) and hard-linked to `path`, which fails when
 * the name exists. Of two processes starting together on a fresh directory
 * (p2p-serve and p2p-announce) one creates the file and the other reads it;
 * neither replaces it. Returns false when `path` already existed.
 */
export async function publishOnce(
  path: string,
  data: Uint8Array | string,
  options: { mode?: number; within?: string; sync?: boolean } = {},
): Promise<boolean> {
  const temp = tempPathFor(path)
  const handle = await open(temp, 'wx', options.mode ?? 0o666)
  try {
    try {
      await writeAll(handle, typeof data === 'string' ? Buffer.from(data, 'utf8') : data)
      if (options.sync !== false) await handle.sync()
    } finally {
      await handle.close()
    }
    if (options.within !== undefined) await realDirectories(options.within, dirname(path))
    await link(temp, path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  } finally {
    await unlink(temp).catch(() => undefined) // published or not, the temp name goes
  }
}

/** Create `dir` if needed and prove it writable (a probe file), or fail with E_IO / E_NO_SPACE naming it. */
export async function assertWritable(dir: string, what: string): Promise<void> {
  // A fresh random name, created exclusively: a link planted at a guessable name (the pid) would
  // otherwise have this write truncate whatever it points to.
  const probe = tempPathFor(join(dir, `${TEMP_MARKER}probe`))
  try {
    await makeDirectories(dir)
    await writeFile(probe, '', { flag: 'wx' })
    await unlink(probe)
  } catch (err) {
    throw fromFsError(err, `checking that ${what} (${dir}) is writable`)
  }
}

/** Fail with E_NO_SPACE unless the filesystem holding `dir` has `needed` bytes free (given its block size) when it can tell. */
export async function assertSpace(
  dir: string,
  needed: number | ((blockSize: number) => number),
  what: string,
): Promise<void> {
  let free: number
  let bytes: number
  try {
    const space = await statfs(dir)
    free = space.bavail * space.bsize
    bytes = typeof needed === 'number' ? needed : needed(space.bsize)
  } catch {
    return // cannot tell: the writes themselves will report ENOSPC
  }
  if (free < bytes) {
    throw new P2PError(
      'E_NO_SPACE',
      `not enough free space for ${what} in ${dir}: ${bytes} bytes needed, ${free} free; free some space and run again`,
      { needed: bytes, free },
    )
  }
}

/** Whether `a` and `b` (or, for one not created yet, its nearest existing parent) are on one filesystem. */
export async function sameFilesystem(a: string, b: string): Promise<boolean> {
  const device = async (path: string): Promise<bigint | undefined> => {
    for (let p = resolve(path); ; p = dirname(p)) {
      const st = await stat(p, { bigint: true }).catch(() => undefined)
      if (st) return st.dev
      if (dirname(p) === p) return undefined
    }
  }
  const [x, y] = await Promise.all([device(a), device(b)])
  return x === undefined || x === y
}

/**
 * What identifies one version of a file's bytes without reading them (any write changes it). From stats read
 * with `{ bigint: true }`: the inode exact (file-identity.ts) and the times to the nanosecond.
 */
export function stampOf(st: { ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }): string {
  return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`
}
