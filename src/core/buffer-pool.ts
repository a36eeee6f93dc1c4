import { sharedBuffer } from './hashing.js'

/**
 * Reusable chunk-sized buffers in shared memory. Chunks pass through the
 * hash thread without a copy (SharedArrayBuffer), and reusing them keeps the
 * resident size flat: a fresh 1 MiB buffer per chunk is external memory the
 * garbage collector frees late, and RSS climbed to ~1 GB serving one file.
 * Buffers are pooled per size (chunk sizes differ per file), at most
 * `maxPerSize` of each kept.
 */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>()

  constructor(private readonly maxPerSize = 64) {}

  take(size: number): Buffer {
    return this.free.get(size)?.pop() ?? sharedBuffer(size)
  }

  /** Return a buffer from `take`; anything else (a view, a plain buffer) is ignored. */
  give(buffer: Buffer): void {
    if (!(buffer.buffer instanceof SharedArrayBuffer) || buffer.byteOffset !== 0 || buffer.byteLength !== buffer.buffer.byteLength) return
    let list = this.free.get(buffer.length)
    if (!list) this.free.set(buffer.length, (list = []))
    if (list.length < this.maxPerSize) list.push(buffer)
  }
}
