import { createHash, type Hash } from 'node:crypto'
import { constants } from 'node:fs'
import { type FileHandle, copyFile, mkdir, open, rename, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Bitfield } from '../bitfield.js'
import { HELD_FOR_HASH_BYTES } from '../constants.js'
import { P2PError, fromFsError } from '../errors.js'
import type { StoreTarget } from '../hashing.js'
import type { Manifest } from '../manifest.js'
import { packedDataPath, packedHavePath, readPackedHave, writePackedHave } from '../packed.js'
import { type FileIdentity, type StitchResult, materialize, partName, place } from './final-name.js'
import { portableName } from '../names.js'
import { assertSameDirectory, realDirectories } from '../safe-fs.js'
import { tempPathFor } from '../disk.js'
import { readFullySync } from '../read-fully.js'

/**
 * Assembles the download in the store entry's packed `data` file (packed.ts)
 * and gives it its final name in downloads/ only when the whole file's
 * SHA-256 matches the manifest.
 *
 * Each verified chunk is written once, at its offset in `data` (by the hash
 * thread, which has just checked it), and published in `data.have` a moment
 * later, so a running p2p-serve offers it. The whole-file hash follows behind
 * in order — from the chunk's buffer when it is the next one (the scheduler
 * makes that the common case) or arrived shortly ahead of its turn (its
 * buffer is held, up to 8 MiB), otherwise by reading back what was written. So
 * the stitch is not a second pass over the file: when the last chunk lands,
 * only fsync and naming remain. The final file is a hard link to `data` (the
 * bytes are written and stored once); across filesystems, a copy.
 *
 * The final name is never overwritten with something different: an identical
 * file there is simply kept; a different one stays and the new file becomes
 * `name (1).ext`, `name (2).ext`, … unless `force` replaces it. The new name is
 * claimed with link(2), which fails rather than clobber a file that appeared
 * meanwhile; until then the file is `<name>.part` in downloads/. The name is
 * the manifest's made portable (`CON` → `CON_`, `a:b` → `a_b`: names.ts).
 *
 * The entry directory must be a real directory, not a link (checked before
 * and after `data` is opened, and before every `data.have` is placed), so a
 * download never writes outside the store.
 */

export type { StitchResult } from './final-name.js'

export interface PackedWriterOptions {
  /** The store entry's directory (holds `data` and `data.have`). */
  entryDir: string
  downloadsDir: string
  manifest: Manifest
  /** At most how long a chunk written to `data` waits to be published in `data.have` (each publish is a small file replaced). */
  publishMs?: number
}

const READ_BACK_BYTES = 4 * 1024 * 1024
const WRITEBACK_BYTES = 64 * 1024 * 1024
/** A catch-up of the whole-file hash lets the event loop run after this many bytes. */
const YIELD_BYTES = 32 * 1024 * 1024

export class PackedWriter {
  /** Chunks whose bytes are in `data`. */
  readonly have: Bitfield
  private hashed = 0 // chunks [0, hashed) are in `whole`
  private readonly whole: Hash = createHash('sha256')
  private advancing: Promise<void> = Promise.resolve()
  private failure: unknown
  private readBack: Buffer | undefined
  /** Chunks accepted ahead of their turn in the whole-file hash, with their buffers. */
  private readonly held = new Map<number, { data: Uint8Array; release: () => void }>()
  private heldBytes = 0
  private publishing: Promise<void> = Promise.resolve()
  private publishTimer: NodeJS.Timeout | undefined
  private lastPublish = -Infinity
  private closed = false
  private unsynced = 0
  private syncing: Promise<void> | undefined
  readonly dataPath: string
  readonly partPath: string
  /** The name in downloads/ (before numbering). */
  readonly finalName: string

  private constructor(
    private readonly handle: FileHandle,
    /** `data` as opened: what the final name must turn out to be. */
    private readonly dataFile: FileIdentity,
    private readonly o: PackedWriterOptions,
    /** What `data.have` listed at open: still published until accepted or dropped (a re-run checks them). */
    readonly inherited: Bitfield,
  ) {
    this.have = new Bitfield(o.manifest.chunks.length)
    this.dataPath = packedDataPath(o.entryDir)
    this.finalName = portableName(o.manifest.name)
    this.partPath = join(o.downloadsDir, partName(this.finalName))
  }

  static async open(o: PackedWriterOptions): Promise<PackedWriter> {
    const path = packedDataPath(o.entryDir)
    let handle: FileHandle | undefined
    try {
      await mkdir(o.downloadsDir, { recursive: true })
      // Kept across runs (what a killed download wrote is resumed); never through a symlink, neither
      // `data` nor its directory, and never blocking on a FIFO someone put there.
      const entry = await realDirectories(dirname(o.entryDir), o.entryDir)
      handle = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644)
      const st = await handle.stat()
      if (!st.isFile()) throw new P2PError('E_IO', `${path} is not a regular file: something other than p2pshare put it there; remove it`)
      await assertSameDirectory(o.entryDir, entry)
      if (st.nlink > 1) handle = await privateCopy(handle, path)
      const opened = await handle.stat()
      if (opened.size !== o.manifest.size) await handle.truncate(o.manifest.size)
      const count = o.manifest.chunks.length
      return new PackedWriter(handle, { dev: opened.dev, ino: opened.ino }, o, (await readPackedHave(o.entryDir, count)) ?? new Bitfield(count))
    } catch (err) {
      await handle?.close().catch(() => undefined)
      throw fromFsError(err, `opening ${path}`)
    }
  }

  /** Where chunk `index` goes: hand it to the hash thread's digestAndStore. */
  target(index: number): StoreTarget {
    if (this.closed) throw new P2PError('E_INTERNAL', `${this.dataPath} is closed`)
    return { fd: this.handle.fd, offset: index * this.o.manifest.chunkSize }
  }

  /** Chunk `index` read back from `data` into `into` (its length is the chunk's). */
  read(index: number, into: Buffer): Buffer {
    this.readAt(into, into.length, index * this.o.manifest.chunkSize)
    return into
  }

  /**
   * `length` bytes at `position` of `data` into `into`, synchronously: what
   * is read back was just written (or is being resumed), so it is most likely
   * in the page cache, where a read costs less than a round trip through
   * libuv's pool.
   */
  private readAt(into: Buffer, length: number, position: number): void {
    if (readFullySync(this.handle.fd, into, length, position) < length) throw new P2PError('E_IO', `${this.dataPath} is shorter than expected: was it modified?`)
  }

  /**
   * Chunk `index`, verified, is in `data`. Without `release`, the buffer
   * `data` may be reused once this returns. With it, `release` is called once
   * it may: at once, or — for a chunk that arrived shortly ahead of its turn
   * in the whole-file hash — when its turn comes (at most HELD_FOR_HASH_BYTES of
   * such buffers; past that, the chunk is read back from `data` then).
   */
  accept(index: number, data: Uint8Array, release?: () => void): void {
    if (this.closed || this.have.get(index)) return release?.() // after close: a late job of a stopped download
    this.have.set(index)
    this.startWriteback(data.byteLength)
    if (index === this.hashed) {
      this.whole.update(data)
      this.hashed++
      release?.()
    } else if (release && this.heldBytes + data.byteLength <= HELD_FOR_HASH_BYTES) {
      this.held.set(index, { data, release })
      this.heldBytes += data.byteLength
    } else {
      release?.()
    }
    this.advance()
    // Throttled: at once when the last publish is old enough, else when it will be.
    const due = this.lastPublish + (this.o.publishMs ?? 50) - performance.now()
    this.publishTimer ??= setTimeout(() => void this.publish(), Math.max(0, due))
  }

  /**
   * An fdatasync on libuv's pool every WRITEBACK_BYTES accepted, so the disk
   * writes happen while chunks still arrive: the kernel would otherwise hold
   * a 1 GiB file dirty until the final fsync (writeback starts at 10 % of RAM
   * or after 30 s), which then took ~0.25 s; now ~0.03 s (download wall
   * 1.92 → 1.84 s, medians of 5 alternating runs).
   */
  private startWriteback(bytes: number): void {
    this.unsynced += bytes
    if (this.unsynced < WRITEBACK_BYTES || this.syncing !== undefined) return
    this.unsynced = 0
    // A writeback error is reported once per open file: kept here, or the final fsync would succeed.
    this.syncing = this.handle.datasync()
      .catch((err: unknown) => { this.failure ??= fromFsError(err, `writing ${this.dataPath} to disk`) })
      .finally(() => { this.syncing = undefined })
  }

  /** A chunk `inherited` listed failed its check: no longer publish it. */
  drop(index: number): void {
    this.inherited.set(index, false)
  }

  /** Replace `data.have` with what is in `data` now (after the bytes, never before). */
  private publish(): Promise<void> {
    clearTimeout(this.publishTimer)
    this.publishTimer = undefined
    this.lastPublish = performance.now()
    const snapshot = new Bitfield(this.have.length, this.have.bytes.map((bits, i) => bits | this.inherited.bytes[i]!))
    this.publishing = this.publishing.then(() => writePackedHave(this.o.entryDir, snapshot)).catch((err: unknown) => {
      this.failure ??= fromFsError(err, `writing ${this.o.entryDir}/data.have`)
    })
    return this.publishing
  }

  /** Hash forward over chunks that came out of order: from their held buffers, else read back from the page cache. */
  private advance(): void {
    if (this.hashed >= this.have.length || !this.have.get(this.hashed)) return
    this.advancing = this.advancing.then(async () => {
      const { chunkSize, size } = this.o.manifest
      let sinceYield = 0
      while (this.hashed < this.have.length && this.have.get(this.hashed)) {
        if (sinceYield >= YIELD_BYTES) {
          // A long catch-up (one late chunk ahead of a gigabyte) must not stall sockets and timers.
          sinceYield = 0
          await new Promise<void>((resolve) => setImmediate(resolve))
          continue // accept() may have moved `hashed` meanwhile
        }
        sinceYield += chunkSize
        const held = this.held.get(this.hashed)
        if (held) {
          this.held.delete(this.hashed++)
          this.heldBytes -= held.data.byteLength
          this.whole.update(held.data)
          held.release()
          continue
        }
        // One buffer for the whole download: a fresh 4 MiB per catch-up showed up as RSS growing with file size.
        const buffer = (this.readBack ??= Buffer.allocUnsafe(Math.min(READ_BACK_BYTES, size)))
        const start = this.hashed * chunkSize
        const end = Math.min(size, start + chunkSize)
        for (let pos = start; pos < end;) {
          const piece = Math.min(buffer.length, end - pos)
          this.readAt(buffer, piece, pos)
          this.whole.update(buffer.subarray(0, piece))
          pos += piece
        }
        this.hashed++
      }
    }).catch((err: unknown) => { this.failure ??= err })
  }

  /** After every chunk is in: check the whole-file hash, fsync, and give the file its final name. */
  async finish(options: { force?: boolean } = {}): Promise<StitchResult> {
    this.advance()
    await this.advancing
    if (this.failure !== undefined) throw this.failure
    if (this.hashed !== this.have.length) throw new P2PError('E_INTERNAL', `stitch finished with ${this.have.length - this.hashed} chunks missing`)
    const sha256 = this.whole.digest('hex')
    if (sha256 !== this.o.manifest.sha256) {
      await this.discard()
      throw new P2PError('E_CHECKSUM', `the stitched file hashes to ${sha256}, not ${this.o.manifest.sha256}: a store chunk changed under the download; run again`)
    }
    try {
      await this.handle.sync()
      await this.close()
      if (this.failure !== undefined) throw this.failure
      await materialize(this.dataPath, this.partPath, this.dataFile)
      // Fault-injection hook for the crash-before-rename test (FAULTS.md case 7).
      if (process.env.P2P_TEST_HOOK === 'kill-before-rename') process.kill(process.pid, 'SIGKILL')
      return await place({ partPath: this.partPath, dir: this.o.downloadsDir, name: this.finalName, size: this.o.manifest.size, sha256, force: options.force === true })
    } catch (err) {
      await unlink(this.partPath).catch(() => undefined)
      throw fromFsError(err, `finishing ${this.partPath}`)
    }
  }

  /** Publish what `data` holds and close it; the entry stays for a re-run to resume. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.publish()
    await this.advancing
    for (const { release } of this.held.values()) release()
    this.held.clear()
    this.heldBytes = 0
    await this.syncing
    await this.handle.close().catch(() => undefined)
  }

  /** Drop `data` and `data.have` (they cannot be trusted): a re-run starts afresh. */
  private async discard(): Promise<void> {
    await this.close()
    await unlink(packedHavePath(this.o.entryDir)).catch(() => undefined)
    await unlink(this.dataPath).catch(() => undefined)
  }
}

/**
 * `data` shares its inode with another name — the downloaded file of an
 * earlier run, which the user may have edited: writing into it would change
 * their file. Give the entry its own copy (in the kernel), and resume from
 * that; the chunks in it are verified again anyway.
 */
async function privateCopy(handle: FileHandle, path: string): Promise<FileHandle> {
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
