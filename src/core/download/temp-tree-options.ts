import type { SyncFilesystem } from './tree-durable.js'

/** What a temporary tree (temp-tree.ts) is made with. */

export interface TempTreeOptions {
  downloadsDir: string
  /** The folder's name as the manifest gives it (made portable here). */
  name: string
  /** Private file in the store entry remembering the temporary tree's name between runs. */
  recordPath: string
  /** The store's root: the record is written only through real directories below it. */
  storeRoot: string
  /**
   * One sync of the tree's filesystem before it is placed (tree-durable.ts):
   * by default `sync -f` where a filesystem sync is trusted there; `false`
   * for none (each file is synced as it is written).
   */
  syncFilesystem?: SyncFilesystem | false
  /**
   * Make entries through directory descriptors where the system allows
   * (tree-anchors.ts; Linux); `false` for paths checked with lstat first,
   * as on other systems.
   */
  anchored?: boolean
}
