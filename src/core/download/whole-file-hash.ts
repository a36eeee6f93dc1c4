import { createHash, type Hash } from 'node:crypto'
import type { Bitfield } from '../bitfield.js'
import { alignedBuffer } from '../direct-io.js'
import { fromFsError, P2PError } from '../errors.js'
import type { Manifest } from '../manifest.js'

/**
 * The SHA-256 of the whole file, computed in chunk order while chunks arrive
 * in any order, so that the check needs no second pass over the file. A
 * chunk is hashed from its buffer when it is the next one (the scheduler
 * makes that the common case). One that arrives ahead of its turn is read
 * back from where it was written when its turn comes, unless it is less than
 * HOLD_AHEAD_BYTES ahead while `holding()` says so (a fast download): then it
 * is copied and hashed from the copy in its turn. A fast download from two
 * seeders gets ~40 % of its chunks a few ahead of their turn, and reading
 * them back past the page cache (direct-io.ts) held its busy main thread on
 * the disk: 1 GiB read back 0.41 GB of it. A slow one (every host of a
 * swarm, whose rarest-first order brings chunks far ahead) reads them back
 * at no cost that matters and holds nothing: holding up to 8 MiB of early
 * chunks cost that much resident memory in a swarm (docs/benchmarks.md).
 */

/** Read `length` bytes at `position` of the file being written into `into`; throws when the file is short. */
export type ReadBack = (into: Buffer, length: number, position: number) => void

/**
 * The most read back at once: one chunk of a megabyte or more in pieces of this size, or a run of smaller
 * chunks that lie next to each other in the file in one read (64 KiB chunks read one by one cost a system
 * call each).
 */
const READ_BACK_BYTES = 1024 * 1024
/**
 * How far ahead of the hash's front a chunk may be to be held (copied) for its turn. Only distinct chunks
 * within this distance are held, so this is also the most held at once; a chunk this size or larger is never held.
 */
export const HOLD_AHEAD_BYTES = 4 * 1024 * 1024
/** A catch-up lets the event loop run after this many bytes. */
const YIELD_BYTES = 32 * 1024 * 1024

export class WholeFileHash {
  /** Chunks [0, hashed) are in `hash`. */
  private hashed = 0
  private readonly hash: Hash = createHash('sha256')
  private advancing: Promise<void> = Promise.resolve()
  /** The first error of a catch-up (a read back that failed), as the download's error (E_IO, …). */
  failure: P2PError | undefined
  private readBuffer: Buffer | undefined
  /** Copies of chunks ahead of the front (index → copy, the chunk's length); each goes back to `spare` when hashed. */
  private readonly held = new Map<number, Buffer>()
  private readonly spare: Buffer[] = []

  /**
   * `have`: the chunks whose bytes are written (the writer's, read only here). `holding`: whether chunks
   * ahead of their turn are held now (a fast download: `HashPace.isFast`).
   */
  constructor(
    private readonly manifest: Manifest,
    private readonly have: Bitfield,
    private readonly readBack: ReadBack,
    private readonly holding: () => boolean = () => false,
  ) {}

  /** Chunk `index` (already in `have`) with its bytes, which may be reused once this returns. */
  add(index: number, data: Uint8Array): void {
    if (index === this.hashed) {
      this.hash.update(data)
      this.hashed++
      this.hashHeld()
    } else if (index > this.hashed && (index - this.hashed) * this.manifest.chunkSize < HOLD_AHEAD_BYTES) {
      if (this.holding()) {
        const copy = (this.spare.pop() ?? Buffer.allocUnsafeSlow(this.manifest.chunkSize)).subarray(0, data.byteLength)
        copy.set(data)
        this.held.set(index, copy)
      }
    }
    this.advance()
  }

  /** Bytes held now (at most HOLD_AHEAD_BYTES). */
  get heldBytes(): number {
    let bytes = 0
    for (const copy of this.held.values()) bytes += copy.byteLength
    return bytes
  }

  /** Held chunks at the front hashed from their copies, in order; each copy's memory kept for the next. */
  private hashHeld(): void {
    for (let copy = this.held.get(this.hashed); copy !== undefined; copy = this.held.get(this.hashed)) {
      this.hash.update(copy)
      this.held.delete(this.hashed++)
      this.spare.push(Buffer.from(copy.buffer, copy.byteOffset, this.manifest.chunkSize))
    }
  }

  /** Every catch-up started so far has ended. */
  async settled(): Promise<void> {
    this.advance()
    await this.advancing
  }

  /** Chunks not hashed yet. */
  get missing(): number {
    return this.have.length - this.hashed
  }

  /** The hash (hex), once every chunk is in it. */
  digest(): string {
    return this.hash.digest('hex')
  }

  /** The hash (hex) once the download is done: after every catch-up, whose failure it throws; every chunk in. */
  async result(): Promise<string> {
    await this.settled()
    if (this.failure !== undefined) throw this.failure
    if (this.missing !== 0)
      throw new P2PError('E_INTERNAL', `the download finished with ${this.missing} chunks missing`)
    return this.digest()
  }

  /** Hash forward over chunks that came out of order, from their copies or read back from the file. */
  private advance(): void {
    if (this.hashed >= this.have.length || !this.have.get(this.hashed)) return
    this.advancing = this.advancing
      .then(async () => {
        const { chunkSize, size } = this.manifest
        let sinceYield = 0
        while (this.hashed < this.have.length && this.have.get(this.hashed)) {
          if (this.held.has(this.hashed)) {
            this.hashHeld()
            continue
          }
          if (sinceYield >= YIELD_BYTES) {
            // A long catch-up (one late chunk ahead of a gigabyte) must not stall sockets and timers.
            sinceYield = 0
            await new Promise<void>((resolve) => setImmediate(resolve))
            continue // add() may have moved `hashed` meanwhile
          }
          // One buffer for the whole download: a fresh one per catch-up showed up as RSS growing with file size.
          // Page-aligned: a read back past the page cache fills it in place (direct-io.ts).
          this.readBuffer ??= alignedBuffer(Math.min(READ_BACK_BYTES, size))
          const buffer = this.readBuffer
          const start = this.hashed * chunkSize
          const endOf = (chunks: number) => Math.min(size, chunks * chunkSize)
          let last = this.hashed + 1 // the run read back: [hashed, last), written chunks that fit the buffer together
          while (
            last < this.have.length &&
            this.have.get(last) &&
            !this.held.has(last) &&
            endOf(last + 1) - start <= buffer.length
          )
            last++
          const end = endOf(last)
          for (let position = start; position < end; ) {
            const piece = Math.min(buffer.length, end - position)
            this.readBack(buffer, piece, position)
            this.hash.update(buffer.subarray(0, piece))
            position += piece
          }
          sinceYield += end - start
          this.hashed = last
        }
      })
      .catch((err: unknown) => {
        this.failure ??= fromFsError(err, 'reading the download back for its whole-file hash')
      })
  }
}

/** The whole file hashed to `sha256`, not to the manifest's, though each chunk matched its own. */
export function wholeFileMismatch(manifest: Manifest, sha256: string): P2PError {
  return new P2PError(
    'E_CHECKSUM',
    `the downloaded file hashes to ${sha256}, not ${manifest.sha256} as the manifest says; each chunk matched, so the manifest is inconsistent (no download of this id can succeed) or a chunk in the store changed under the download (run again); nothing was placed`,
  )
}
