import { createHash, type Hash } from 'node:crypto'
import type { Bitfield } from '../bitfield.js'
import { HELD_FOR_HASH_BYTES } from '../constants.js'
import type { Manifest } from '../manifest.js'

/**
 * The SHA-256 of the whole file, computed in chunk order while chunks arrive
 * in any order, so that the check needs no second pass over the file. A
 * chunk is hashed from its buffer when it is the next one (the scheduler
 * makes that the common case) or arrived shortly ahead of its turn: less
 * than HELD_FOR_HASH_BYTES ahead, its buffer is held (so no more than that is
 * held; a swarm's rarest-first order brings chunks far ahead, whose buffers
 * would sit there for most of the download); otherwise it is read
 * back from where it was written when its turn comes (most likely from the
 * page cache). Holds each buffer it keeps until its release, and releases
 * every one on `releaseAll`.
 */

/** Read `length` bytes at `position` of the file being written into `into`; throws when the file is short. */
export type ReadBack = (into: Buffer, length: number, position: number) => void

const READ_BACK_BYTES = 4 * 1024 * 1024
/** A catch-up lets the event loop run after this many bytes. */
const YIELD_BYTES = 32 * 1024 * 1024

export class WholeFileHash {
  /** Chunks [0, hashed) are in `hash`. */
  private hashed = 0
  private readonly hash: Hash = createHash('sha256')
  private advancing: Promise<void> = Promise.resolve()
  /** The first error of a catch-up (a read back that failed). */
  failure: unknown
  private readBuffer: Buffer | undefined
  /** Chunks added ahead of their turn, with their buffers. */
  private readonly held = new Map<number, { data: Uint8Array; release: () => void }>()

  /** `have`: the chunks whose bytes are written (the writer's, read only here). */
  constructor(
    private readonly manifest: Manifest,
    private readonly have: Bitfield,
    private readonly readBack: ReadBack,
  ) {}

  /**
   * Chunk `index` (already in `have`) with its bytes. Without `release`, `data`
   * may be reused once this returns; with it, `release` is called once it may:
   * at once, or when the chunk's turn comes if it is held.
   */
  add(index: number, data: Uint8Array, release?: () => void): void {
    if (index === this.hashed) {
      this.hash.update(data)
      this.hashed++
      release?.()
    } else if (release && (index - this.hashed) * this.manifest.chunkSize < HELD_FOR_HASH_BYTES) {
      // Held chunks lie in [hashed, hashed + HELD_FOR_HASH_BYTES) (`hashed` only grows; one at `hashed` waits
      // for the catch-up), so at most HELD_FOR_HASH_BYTES are held.
      this.held.set(index, { data, release })
    } else {
      release?.()
    }
    this.advance()
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

  /** Give every held buffer back (the download stops; the hash will not be finished). */
  releaseAll(): void {
    for (const { release } of this.held.values()) release()
    this.held.clear()
  }

  /** Hash forward over chunks that came out of order: from their held buffers, else read back. */
  private advance(): void {
    if (this.hashed >= this.have.length || !this.have.get(this.hashed)) return
    this.advancing = this.advancing
      .then(async () => {
        const { chunkSize, size } = this.manifest
        let sinceYield = 0
        while (this.hashed < this.have.length && this.have.get(this.hashed)) {
          if (sinceYield >= YIELD_BYTES) {
            // A long catch-up (one late chunk ahead of a gigabyte) must not stall sockets and timers.
            sinceYield = 0
            await new Promise<void>((resolve) => setImmediate(resolve))
            continue // add() may have moved `hashed` meanwhile
          }
          sinceYield += chunkSize
          const held = this.held.get(this.hashed)
          if (held) {
            this.held.delete(this.hashed++)
            this.hash.update(held.data)
            held.release()
            continue
          }
          // One buffer for the whole download: a fresh 4 MiB per catch-up showed up as RSS growing with file size.
          this.readBuffer ??= Buffer.allocUnsafe(Math.min(READ_BACK_BYTES, size))
          const buffer = this.readBuffer
          const start = this.hashed * chunkSize
          const end = Math.min(size, start + chunkSize)
          for (let position = start; position < end; ) {
            const piece = Math.min(buffer.length, end - position)
            this.readBack(buffer, piece, position)
            this.hash.update(buffer.subarray(0, piece))
            position += piece
          }
          this.hashed++
        }
      })
      .catch((err: unknown) => {
        this.failure ??= err
      })
  }
}
