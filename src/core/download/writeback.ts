import type { FileHandle } from 'node:fs/promises'
import { fromFsError } from '../errors.js'

const WRITEBACK_BYTES = 64 * 1024 * 1024

/**
 * An fdatasync on libuv's pool every WRITEBACK_BYTES accepted, so the disk
 * writes happen while chunks still arrive: the kernel would otherwise hold
 * a 1 GiB file dirty until the final fsync (writeback starts at 10 % of RAM
 * or after 30 s), which then has it all to write (docs/benchmarks.md).
 */
export class Writeback {
  private unsynced = 0
  private syncing: Promise<void> | undefined
  /** A writeback error is reported once per open file: kept here, or the final fsync would succeed. */
  failure: unknown

  constructor(
    private readonly handle: FileHandle,
    private readonly path: string,
    /** Told of the failure when it happens: what was written may not be on disk (the writer withdraws `data.have`). */
    private readonly onFailure: (err: unknown) => void = () => undefined,
  ) {}

  add(bytes: number): void {
    this.unsynced += bytes
    if (this.unsynced < WRITEBACK_BYTES || this.syncing !== undefined) return
    this.unsynced = 0
    this.syncing = this.handle
      .datasync()
      .catch((err: unknown) => {
        this.failure ??= fromFsError(err, `writing ${this.path} to disk`)
        this.onFailure(this.failure)
      })
      .finally(() => {
        this.syncing = undefined
      })
  }

  /** The sync under way, if any, has ended. */
  async settled(): Promise<void> {
    await this.syncing
  }
}
