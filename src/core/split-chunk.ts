import { sharedBuffer } from './buffer-pool.js'

/**
 * The chunk stage both splits share (a file's, split.ts; each file of a
 * folder's, split-tree-file.ts): the chunk-sized buffers a split reads into.
 * One copy, so a file and a folder bound their memory the same way.
 */

/** Chunk-sized buffers over shared memory (the hash threads read them without a copy), at most `count`. */
export class Slots {
  private readonly free: Buffer[] = []
  private readonly waiting: Array<(b: Buffer) => void> = []
  private made = 0

  constructor(
    private readonly count: number,
    private readonly size: number,
  ) {}

  acquire(): Promise<Buffer> {
    const b = this.free.pop()
    if (b !== undefined) return Promise.resolve(b)
    if (this.made < this.count) {
      this.made++
      return Promise.resolve(sharedBuffer(this.size))
    }
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  release(b: Buffer): void {
    const next = this.waiting.shift()
    if (next !== undefined) next(b)
    else this.free.push(b)
  }
}
