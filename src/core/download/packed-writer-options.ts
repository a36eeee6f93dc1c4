import type { HashPace } from '../hash-pace.js'
import type { ItemManifest } from '../item.js'
import type { VouchedChunks } from '../vouched-chunks.js'

/** What a packed writer (packed-writer.ts) is opened with, and what its `finish` takes. */

export interface PackedWriterOptions {
  /** The store entry's directory (holds `data` and `data.have`). */
  entryDir: string
  downloadsDir: string
  manifest: ItemManifest
  /** A folder: the entries to build (by index in its entries; default all). */
  chosen?: readonly boolean[]
  /** The item's id (a folder's receipt gives it as its hash). */
  id?: string
  /** A folder: stops the building of its tree (its directories and empty files, its placing). */
  signal?: AbortSignal
  /** A folder: awaited before its temporary tree is begun in the downloads directory (its chunks come in meanwhile; job.ts `nameDecided`); a rejection stops the download. */
  nameDecided?: () => Promise<void>
  /** A folder: a file is being copied into its temporary tree. */
  onFile?: (path: string) => void
  /** At most how long a chunk written to `data` waits to be published in `data.have` (each publish is a small file replaced; default PUBLISH_MS, IN_PROCESS_PUBLISH_MS with `vouch`). */
  publishMs?: number
  /** Where chunks are hashed (hash-pace.ts; tests choose a path). */
  hashPace?: HashPace
  /** Write and read `data` past the page cache where the filesystem allows (direct-io.ts; the store's setting). */
  directIo?: boolean
  /** A chunk server in this process serves the chunks this writer accepted without hashing them again, and an announcer here announces them, while `data` is open. */
  vouch?: VouchedChunks
  /** When `data.have` lists every chunk, read and check a `data` that is also a finished file in place, not a copy (packed-data.ts). */
  keepShared?: boolean
}

export interface FinishOptions {
  /** Replace a different file at the final name instead of numbering the new one. */
  force?: boolean
  /** Called once `<name>.part` holds the verified file, just before the final name is claimed (fault-injection tests). */
  beforeFinalName?: () => void | Promise<void>
}
