import { BufferPool } from '../buffer-pool.js'

/**
 * Buffers for one download's chunk bodies, in shared memory (the hash thread
 * reads them without a copy), pooled by size class (buffer-pool.ts): a
 * shorter chunk (a file's last; in a folder, one per file) is a view of a
 * pooled buffer, so 10,000 small files do not cost 10,000 fresh shared
 * buffers. At most `maxPooled` of each class are kept. Sizes come from the
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
