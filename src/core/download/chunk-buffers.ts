import { BufferPool } from '../buffer-pool.js'

/**
 * Buffers for one download's chunk bodies, pooled by size class
 * (buffer-pool.ts), in memory of their own: a chunk is decrypted straight
 * into its buffer (sodium-native cannot write shared memory), and when the
 * chunks come fast enough for the hash thread (hash-pace.ts) the buffer's
 * memory is handed over to it and back (hashing.ts), so a fetched chunk is
 * not copied on either path. The caller gives back the buffer the write returned, not
 * the one it took (which a hand-over leaves empty). A shorter chunk (a
 * file's last; in a folder, one per file) is a view of a pooled buffer, so
 * 10,000 small files do not cost 10,000 fresh buffers. At most `maxPooled` of each class are kept. Sizes come from the
 * manifest, never from a peer: a response declaring another size is refused
 * before anything is allocated for it (PeerClient), so what the pool keeps
 * is bounded by the download's own settings, whatever peers claim.
 */
export class ChunkBuffers {
  private readonly pool: BufferPool

  constructor(
    readonly chunkSize: number,
    maxPooled: number,
  ) {
    this.pool = new BufferPool(maxPooled)
  }

  take(size: number): Buffer {
    return this.pool.take(size)
  }

  /** Back to the pool (a buffer from `take`; anything else is left to the garbage collector). */
  give(buffer: Buffer): void {
    this.pool.give(buffer)
  }
}
