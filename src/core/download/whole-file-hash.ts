import { createHash, type Hash } from 'node:crypto'
import type { Bitfield } from '../bitfield.js'
import { alignedBuffer } from '../direct-io.js'
import { P2PError } from '../errors.js'
import type { Manifest } from '../manifest.js'

/**
 * The SHA-256 of the whole file, computed in chunk order while chunks arrive
 * in any order, so that the check needs no second pass over the file. A
 * chunk is hashed from its buffer when it is the next one (the scheduler
 * makes that the common case); one that arrived ahead of its turn is read
 * back from where it was written when its turn comes (most likely from the
 * page cache). No buffer is kept for later: holding early chunks saved those
 * reads but cost up to 8 MiB of resident memory, most of it in a swarm,
 * whose rarest-first order brings chunks far ahead (docs/benchmarks.md).
 */

/** Read `length` bytes at `position` of the file being written into `into`; throws when the file is short. */
export type ReadBack = (into: Buffer, length: number, position: number) => void

/**
 * The most read back at once: one chunk of a megabyte or more in pieces of this size, or a run of smaller
 * chunks that lie next to each other in the file in one read (64 KiB chunks read one by one cost a system
 * call each).
 */
const READ_BACK_BYTES = 1024 * 1024
/** A catch-up lets the event loop run after this many bytes. */
const YIELD_BYTES = 32 * 1024 * 1024

export class WholeFileHash {
  /** Chunks [0, hashed) are in `hash`. */
  private hashed = 0
  private readonly hash: Hash = createHash('sha256')
  private advancing: Promise<void> = Promise.resolve()
  /** The first error of a catch-up (a read back that failed). */
  private failure: unknown
  private readBuffer: Buffer | undefined

  /** `have`: the chunks whose bytes are written (the writer's, read only here). */
  constructor(
    private readonly manifest: Manifest,
    private readonly have: Bitfield,
    private readonly readBack: ReadBack,
  ) {}

  /** Chunk `index` (already in `have`) with its bytes, which may be reused once this returns. */
  add(index: number, data: Uint8Array): void {
    if (index === this.hashed) {
      this.hash.update(data)
      this.hashed++
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

  /** The hash (hex) once the download is done: after every catch-up, whose failure it throws; every chunk in. */
  async result(): Promise<string> {
    await this.settled()
    if (this.failure !== undefined) throw this.failure
    if (this.missing !== 0)
      throw new P2PError('E_INTERNAL', `the download finished with ${this.missing} chunks missing`)
    return this.digest()
  }

  /** Hash forward over chunks that came out of order, read back from the file. */
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
          // One buffer for the whole download: a fresh one per catch-up showed up as RSS growing with file size.
          // Page-aligned: a read back past the page cache fills it in place (direct-io.ts).
          this.readBuffer ??= alignedBuffer(Math.min(READ_BACK_BYTES, size))
          const buffer = this.readBuffer
          const start = this.hashed * chunkSize
          const endOf = (chunks: number) => Math.min(size, chunks * chunkSize)
          let last = this.hashed + 1 // the run read back: [hashed, last), written chunks that fit the buffer together
          while (last < this.have.length && this.have.get(last) && endOf(last + 1) - start <= buffer.length) last++
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
        this.failure ??= err
      })
  }
}
