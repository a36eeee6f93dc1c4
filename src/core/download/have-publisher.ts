import { unlink } from 'node:fs/promises'
import type { Bitfield } from '../bitfield.js'
import { Coalescer } from '../coalescer.js'
import { fromFsError } from '../errors.js'
import { packedHavePath, writePackedHave } from '../packed.js'

/** How often `data.have` may be replaced while a running p2p-serve and p2p-announce learn from it alone. */
export const PUBLISH_MS = 50
/**
 * …and while the download's own process serves and announces (`--seed`):
 * they learn of each chunk from the writer itself (vouched-chunks.ts), so
 * the file is for other processes and a re-run only, and twenty
 * replacements a second of it and of `data.vouch` were 4 % of a 16-host
 * swarm's download CPU (docs/benchmarks.md).
 */
export const IN_PROCESS_PUBLISH_MS = 1000

/**
 * The one writer of a download's `data.have` (packed.ts): what a running
 * p2p-serve offers of an unfinished download. A chunk is published only
 * after its bytes are in `data`, together with what the file listed when it
 * was opened (`inherited`: chunks a re-run still checks, dropped when one
 * fails). Each publish replaces a small file, so they are coalesced
 * (coalescer.ts): one at a time, `publishMs` apart, the last one always made.
 */
export class HavePublisher {
  private readonly writes: Coalescer
  /** The first write error, kept for the writer to report. */
  failure: unknown
  /** Nothing `data` holds is vouched for any more: every publish from now on removes `data.have`. */
  private withdrawn = false

  constructor(
    private readonly entryDir: string,
    private readonly have: Bitfield,
    readonly inherited: Bitfield,
    publishMs = PUBLISH_MS,
    /** Told after each `data.have` what this run verified and wrote (writer-vouch.ts); not waited for. */
    private readonly alsoPublish?: (verified: Bitfield) => void,
  ) {
    this.writes = new Coalescer(
      () => this.publish(),
      () => publishMs,
      (err) => {
        this.failure ??= fromFsError(err, `writing ${this.entryDir}/data.have`)
      },
    )
  }

  /** A chunk was accepted: publish at once when the last publish is old enough, else when it will be. */
  soon(): void {
    this.writes.request()
  }

  /** Replace `data.have` with what is in `data` now (after the bytes, never before). */
  now(): Promise<void> {
    return this.writes.now()
  }

  /**
   * A write of `data` to the disk failed: what `data.have` lists may be only in the page cache (Linux marks the
   * pages of a failed writeback clean and may keep them cached), where a re-run would verify it and a later
   * fsync would pass. `data.have` is removed now and at every publish after, so a re-run fetches it all again.
   */
  withdraw(): Promise<void> {
    this.withdrawn = true
    return this.writes.now()
  }

  private async publish(): Promise<void> {
    if (this.withdrawn) {
      await unlink(packedHavePath(this.entryDir)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err
      })
      return
    }
    const snapshot = this.have.copy()
    snapshot.add(this.inherited)
    const verified = this.have.copy()
    await writePackedHave(this.entryDir, snapshot)
    this.alsoPublish?.(verified)
  }
}
