import { BufferPool } from '../buffer-pool.js'
import { sharedBuffer } from '../hashing.js'

/**
 * Buffers for one download's chunk bodies, in shared memory (the hash thread
 * reads them without a copy). Only the manifest's chunk size is pooled, at
 * most `maxPooled` of them; any other size (the last, shorter chunk) is a
 * one-off. Sizes come from the manifest, never from a peer: a response
 * declaring another size is refused before anything is allocated for it
 * (PeerClient), so what the pool keeps is bounded by the download's own
 * settings, whatever peers claim.
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
    return size === this.chunkSize ? this.pool.take(size) : sharedBuffer(size)
  }

  /** Back to the pool when chunk-sized; anything else is left to the garbage collector. */
  give(buffer: Buffer): void {
    if (buffer.length === this.chunkSize) this.pool.give(buffer)
  }
}
