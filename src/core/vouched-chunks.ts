import { resolve } from 'node:path'
import type { Bitfield } from './bitfield.js'
import { P2PError } from './errors.js'

/**
 * Chunks that a download running in this process verified and wrote into a
 * store entry's packed `data` itself, which a chunk server in the same
 * process may serve without hashing them again: the download's SHA-256 check
 * is the one the server would make, of the same bytes, and nothing else in
 * the process writes that file while the download holds it (the entry's
 * lock keeps other processes out). Without it a server hashes a live
 * download's chunk on every first serve after `data` changed, which is after
 * every write. What a file on disk is trusted for after the download ends is
 * the verified record's (verified-record.ts), not this.
 *
 * A download's writer registers its `have` when it opens `data` and takes it
 * back when it closes `data`: nothing vouches for a file that no writer in
 * this process holds open.
 */
export class VouchedChunks {
  private readonly byData = new Map<string, Bitfield>()

  /** `have` answers for the packed file at `dataPath` until the returned release is called (once; later calls do nothing). */
  register(dataPath: string, have: Bitfield): () => void {
    const key = resolve(dataPath)
    if (this.byData.has(key)) throw new P2PError('E_INTERNAL', `${key} is already vouched for by another writer`)
    this.byData.set(key, have)
    return () => {
      if (this.byData.get(key) === have) this.byData.delete(key)
    }
  }

  /** Whether chunk `index` of the packed file at `dataPath` was verified and written by its writer in this process. */
  has(dataPath: string, index: number): boolean {
    return this.byData.get(resolve(dataPath))?.get(index) ?? false
  }

  /** Files vouched for now (tests: every writer gives its file back). */
  get files(): number {
    return this.byData.size
  }
}
