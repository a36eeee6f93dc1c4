import { stat } from 'node:fs/promises'
import { claimsFromSnapshot, readDictionaryBytes } from '../discovery/dictionary-file.js'
import type { KnownFile } from '../discovery/listener.js'
import { type ClaimFilter, wantedFiles } from '../discovery/wanted-claims.js'
import { stampOf } from '../disk.js'
import { parseJsonUtf8 } from '../json.js'
import type { Logger } from '../log.js'

/**
 * The largest content dictionary file a download reads (some 5,000 claims); past it, live discovery only, which
 * asked every announcer at the start. Parsing costs several times the file in memory: a second attacker pass took
 * a download to 151 MB with a file just under the 8 MiB this was before.
 */
export const DOWNLOAD_DICTIONARY_MAX_BYTES = 2 * 1024 * 1024

/**
 * The claims of the content dictionary file a running p2p-listen keeps, as a download reads them (peers.ts): the
 * wanted ones, their times moved onto the listener's clock, read again when the file changes, with at most a
 * tenth of the main thread, and none from a file past DOWNLOAD_DICTIONARY_MAX_BYTES.
 */
export class DictionaryFileClaims {
  /** By id, as last read. */
  claims = new Map<string, KnownFile>()
  private fileStamp = ''
  /** When the file may be looked at again (performance.now()): a tenth of the main thread at most goes to it. */
  private nextLookAt = 0
  /** A look under way: the next waits (an older read must not replace a newer one). */
  private reloading = false
  /** The file was found too large (logged once until it is not). */
  private tooLarge = false

  constructor(
    private readonly path: string | undefined,
    /** The listener's monotonic clock, which the file's wall-clock times are moved onto. */
    private readonly clock: () => number,
    private readonly keep: ClaimFilter | undefined,
    private readonly log: Logger,
    private readonly changed: () => void,
  ) {}

  async reload(): Promise<void> {
    if (this.path === undefined || this.reloading || performance.now() < this.nextLookAt) return
    this.reloading = true
    try {
      const stats = await stat(this.path, { bigint: true })
      const stamp = stampOf(stats)
      if (stamp === this.fileStamp) return
      this.fileStamp = stamp
      if (stats.size > DOWNLOAD_DICTIONARY_MAX_BYTES) {
        if (!this.tooLarge)
          this.log.info(
            { bytes: Number(stats.size), most: DOWNLOAD_DICTIONARY_MAX_BYTES },
            'content dictionary file too large to read; using live discovery only',
          )
        this.tooLarge = true
        if (this.claims.size > 0) {
          this.claims = new Map()
          this.changed()
        }
        return
      }
      this.tooLarge = false
      const bytes = await readDictionaryBytes(this.path, DOWNLOAD_DICTIONARY_MAX_BYTES)
      // The parse is this thread's: what it took spaces the next look (reading the file waits on the disk).
      const began = performance.now()
      try {
        const json = bytes === undefined ? undefined : parseJsonUtf8(bytes)
        // The file's wall-clock times, moved onto the listener's monotonic clock.
        const files = json === undefined ? [] : claimsFromSnapshot(json, (wall) => this.clock() - (Date.now() - wall))
        this.claims = new Map(wantedFiles(files, this.keep).map((f) => [f.id, f]))
        this.changed()
      } finally {
        this.nextLookAt = performance.now() + 9 * (performance.now() - began)
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.debug({ err: (err as Error).message }, 'content dictionary unreadable; using live discovery only')
    } finally {
      this.reloading = false
    }
  }
}
