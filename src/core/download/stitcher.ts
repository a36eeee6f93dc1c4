import { createHash, type Hash } from 'node:crypto'
import { type FileHandle, link, mkdir, open, rename, stat, unlink } from 'node:fs/promises'
import { extname, join } from 'node:path'
import { P2PError, fromFsError } from '../errors.js'
import type { Manifest } from '../manifest.js'

/**
 * Builds `downloads/<name>.part` while the chunks arrive, and gives it its
 * final name only when the whole file's SHA-256 matches the manifest.
 *
 * Each verified chunk is written at its offset as soon as it arrives; the
 * whole-file hash follows behind in order — from the chunk's buffer when it is
 * the next one (the scheduler makes that the common case), otherwise by
 * reading back what was written. So the stitch is not a second pass over the
 * file: when the last chunk lands, only fsync and rename remain.
 *
 * The final name is never overwritten with something different: an identical
 * file there is simply kept; a different one stays and the new file becomes
 * `name (1).ext`, `name (2).ext`, … unless `force` replaces it. The new name is
 * claimed with link(2), which fails rather than clobber a file that appeared
 * meanwhile.
 */

export interface StitchResult {
  path: string
  sha256: string
  /** True when an identical file was already at the final name. */
  alreadyThere: boolean
}

const READ_BACK_BYTES = 4 * 1024 * 1024

export class Stitcher {
  private hashed = 0 // chunks [0, hashed) are in `whole`
  private readonly written: Uint8Array
  private readonly whole: Hash = createHash('sha256')
  private advancing: Promise<void> = Promise.resolve()
  private failure: unknown
  private readBack: Buffer | undefined

  private constructor(
    private readonly handle: FileHandle,
    readonly partPath: string,
    private readonly dir: string,
    private readonly manifest: Manifest,
  ) {
    this.written = new Uint8Array(manifest.chunks.length)
  }

  static async open(downloadsDir: string, manifest: Manifest): Promise<Stitcher> {
    const partPath = join(downloadsDir, `${manifest.name}.part`)
    try {
      await mkdir(downloadsDir, { recursive: true })
      const handle = await open(partPath, 'w+') // read back for hashing; truncates a stale .part: it is rebuilt from the store's verified chunks
      await handle.truncate(manifest.size)
      return new Stitcher(handle, partPath, downloadsDir, manifest)
    } catch (err) {
      throw fromFsError(err, `creating ${partPath}`)
    }
  }

  /** Write a verified chunk at its offset; the bytes may be reused once this resolves. */
  async write(index: number, data: Uint8Array): Promise<void> {
    const offset = index * this.manifest.chunkSize
    try {
      for (let done = 0; done < data.byteLength;) {
        const { bytesWritten } = await this.handle.write(data, done, data.byteLength - done, offset + done)
        done += bytesWritten
      }
    } catch (err) {
      throw fromFsError(err, `writing ${this.partPath}`)
    }
    this.written[index] = 1
    if (index === this.hashed) {
      this.whole.update(data)
      this.hashed++
    }
    this.advance()
  }

  /** Hash forward over chunks already written out of order, reading them back from the page cache. */
  private advance(): void {
    if (this.hashed >= this.written.length || !this.written[this.hashed]) return
    this.advancing = this.advancing.then(async () => {
      // One buffer for the whole download: a fresh 4 MiB per catch-up showed up as RSS growing with file size.
      const buffer = (this.readBack ??= Buffer.allocUnsafe(Math.min(READ_BACK_BYTES, this.manifest.size)))
      while (this.hashed < this.written.length && this.written[this.hashed]) {
        const index = this.hashed
        const start = index * this.manifest.chunkSize
        const end = Math.min(this.manifest.size, start + this.manifest.chunkSize)
        for (let pos = start; pos < end;) {
          const { bytesRead } = await this.handle.read(buffer, 0, Math.min(buffer.length, end - pos), pos)
          if (bytesRead === 0) throw new P2PError('E_IO', `${this.partPath} is shorter than expected: was it modified?`)
          this.whole.update(buffer.subarray(0, bytesRead))
          pos += bytesRead
        }
        this.hashed = index + 1
      }
    }).catch((err: unknown) => { this.failure ??= err })
  }

  /** After every chunk is written: check the whole-file hash, fsync, and move to the final name. */
  async finish(options: { force?: boolean } = {}): Promise<StitchResult> {
    this.advance()
    await this.advancing
    if (this.failure !== undefined) throw this.failure
    if (this.hashed !== this.written.length) throw new P2PError('E_INTERNAL', `stitch finished with ${this.written.length - this.hashed} chunks missing`)
    const sha256 = this.whole.digest('hex')
    try {
      if (sha256 !== this.manifest.sha256) {
        throw new P2PError('E_CHECKSUM', `the stitched file hashes to ${sha256}, not ${this.manifest.sha256}: a store chunk changed under the download; run again`)
      }
      await this.handle.sync()
      await this.handle.close()
      // Fault-injection hook for the crash-before-rename test (FAULTS.md case 7).
      if (process.env.P2P_TEST_HOOK === 'kill-before-rename') process.kill(process.pid, 'SIGKILL')
      return await this.place(sha256, options.force === true)
    } catch (err) {
      await this.discard()
      throw fromFsError(err, `finishing ${this.partPath}`)
    }
  }

  async discard(): Promise<void> {
    await this.handle.close().catch(() => undefined)
    await unlink(this.partPath).catch(() => undefined)
  }

  private async place(sha256: string, force: boolean): Promise<StitchResult> {
    const name = this.manifest.name
    if (force) {
      const path = join(this.dir, name)
      await rename(this.partPath, path)
      return { path, sha256, alreadyThere: false }
    }
    for (let n = 0; n < 10_000; n++) {
      const path = join(this.dir, n === 0 ? name : numbered(name, n))
      try {
        await link(this.partPath, path)
        await unlink(this.partPath)
        return { path, sha256, alreadyThere: false }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
        if (await sameContent(path, this.manifest.size, sha256)) {
          await unlink(this.partPath)
          return { path, sha256, alreadyThere: true }
        }
      }
    }
    throw new P2PError('E_EXISTS', `too many files named like ${name} in ${this.dir}: use --force or clean up`)
  }
}

/** "movie.mkv" → "movie (1).mkv"; names without an extension (or dotfiles) get the suffix at the end. */
export function numbered(name: string, n: number): string {
  const ext = extname(name)
  const stem = ext && ext !== name ? name.slice(0, -ext.length) : name
  return `${stem} (${n})${stem === name ? '' : ext}`
}

async function sameContent(path: string, size: number, sha256: string): Promise<boolean> {
  try {
    const st = await stat(path)
    if (!st.isFile() || st.size !== size) return false
    const hash = createHash('sha256')
    const handle = await open(path, 'r')
    try {
      for await (const piece of handle.createReadStream({ highWaterMark: READ_BACK_BYTES })) hash.update(piece as Buffer)
    } finally {
      await handle.close().catch(() => undefined)
    }
    return hash.digest('hex') === sha256
  } catch {
    return false
  }
}
