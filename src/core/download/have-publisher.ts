import { Bitfield } from '../bitfield.js'
import { fromFsError } from '../errors.js'
import { writePackedHave } from '../packed.js'

/**
 * The one writer of a download's `data.have` (packed.ts): what a running
 * p2p-serve offers of an unfinished download. A chunk is published only
 * after its bytes are in `data`, together with what the file listed when it
 * was opened (`inherited`: chunks a re-run still checks, dropped when one
 * fails). Each publish replaces a small file, so they are throttled: at most
 * one per `publishMs`, the last one always made.
 */
export class HavePublisher {
  private publishing: Promise<void> = Promise.resolve()
  private timer: NodeJS.Timeout | undefined
  private last = -Infinity
  /** The first write error, kept for the writer to report. */
  failure: unknown

  constructor(
    private readonly entryDir: string,
    private readonly have: Bitfield,
    readonly inherited: Bitfield,
    private readonly publishMs = 50,
    /** Told after each `data.have` what this run verified and wrote (writer-vouch.ts); not waited for. */
    private readonly alsoPublish?: (verified: Bitfield) => void,
  ) {}

  /** A chunk was accepted: publish at once when the last publish is old enough, else when it will be. */
  soon(): void {
    const due = this.last + this.publishMs - performance.now()
    this.timer ??= setTimeout(() => void this.now(), Math.max(0, due))
  }

  /** Replace `data.have` with what is in `data` now (after the bytes, never before). */
  now(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    this.last = performance.now()
    const snapshot = new Bitfield(
      this.have.length,
      this.have.bytes.map((bits, i) => bits | this.inherited.bytes[i]!),
    )
    const verified = new Bitfield(this.have.length, this.have.bytes.slice())
    this.publishing = this.publishing
      .then(() => writePackedHave(this.entryDir, snapshot))
      .then(() => this.alsoPublish?.(verified))
      .catch((err: unknown) => {
        this.failure ??= fromFsError(err, `writing ${this.entryDir}/data.have`)
      })
    return this.publishing
  }
}
