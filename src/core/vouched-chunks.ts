import { lstatSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Bitfield } from './bitfield.js'
import { P2PError } from './errors.js'
import { type FileIdentity, identityOf, sameFile } from './file-identity.js'

/** A file as the kernel knows it: the path's file now may be another one. */
export type VouchedFile = FileIdentity

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
 * A download's writer registers its `have` and the identity of the `data` it
 * opened when it opens it, and takes them back when it closes `data` (or
 * fails to finish opening): nothing
 * vouches for a file that no writer in this process holds open, nor for
 * another file put at its path.
 *
 * The same `have` tells an announcer in the process what to announce
 * (`haveOf`, `onGrowth`) the moment a chunk is written, so the writer's
 * `data.have`, which only other processes and a re-run need then, is
 * replaced once a second instead of twenty times (have-publisher.ts).
 */
export class VouchedChunks {
  private readonly byData = new Map<string, { file: VouchedFile; have: Bitfield }>()
  private readonly growthListeners = new Set<() => void>()

  /**
   * `have` answers for `file`, open at `dataPath`, until the returned release
   * is called (once; later calls do nothing).
   */
  register(dataPath: string, file: VouchedFile, have: Bitfield): () => void {
    const key = resolve(dataPath)
    if (this.byData.has(key)) throw new P2PError('E_INTERNAL', `${key} is already vouched for by another writer`)
    // Numbers would never equal the bigint identities a server asks with: every chunk silently hashed again.
    if (typeof file.dev !== 'bigint' || typeof file.ino !== 'bigint')
      throw new P2PError(
        'E_INTERNAL',
        `${key}: a vouched file's dev and ino are bigints (stats read with { bigint: true })`,
      )
    const entry = { file: identityOf(file), have }
    this.byData.set(key, entry)
    return () => {
      if (this.byData.get(key) === entry) this.byData.delete(key)
    }
  }

  /**
   * Whether chunk `index` of the packed file at `dataPath` was verified and
   * written by its writer in this process, and `opened` (what the server
   * reads from) is that writer's file, not another put at the same path.
   * Asked before the read: a chunk accepted while the server reads would
   * vouch for bytes read before it was written.
   */
  has(dataPath: string, opened: VouchedFile, index: number): boolean {
    const entry = this.byData.get(resolve(dataPath))
    if (!entry || !sameFile(entry.file, opened)) return false
    return entry.have.get(index)
  }

  /** Whether a writer in this process vouches for some chunks of the packed file at `dataPath` now. */
  covers(dataPath: string): boolean {
    return this.byData.has(resolve(dataPath))
  }

  /** Files vouched for now (tests: every writer gives its file back). */
  get files(): number {
    return this.byData.size
  }

  /**
   * A copy of what the writer of the packed file at `dataPath` verified and
   * wrote into it so far, or undefined when no writer in this process holds
   * the file that is at that path now.
   */
  haveOf(dataPath: string): Bitfield | undefined {
    const entry = this.byData.get(resolve(dataPath))
    if (!entry) return undefined
    try {
      const st = lstatSync(dataPath, { bigint: true })
      if (!st.isFile() || !sameFile(entry.file, identityOf(st))) return undefined
    } catch {
      return undefined
    }
    return entry.have.copy()
  }

  /** `listener` (which must not throw) is called each time a writer says its file holds another chunk; returns its removal. */
  onGrowth(listener: () => void): () => void {
    const registration = (): void => listener() // its own entry: the same function added twice is removed twice
    this.growthListeners.add(registration)
    return () => this.growthListeners.delete(registration)
  }

  /** The writer of the packed file at `dataPath` set another bit of its `have` (its chunk's bytes are in the file). */
  grew(dataPath: string): void {
    if (!this.byData.has(resolve(dataPath))) return
    for (const listener of this.growthListeners) listener()
  }
}
