import {
  chunkCount,
  chunkLength,
  encodeManifest,
  type Manifest,
  type ParseManifestOptions,
  parseManifest,
} from './manifest.js'
import { TreeLayout } from './tree-layout.js'
import { DEFAULT_MAX_TREE_ENTRIES, encodeTreeManifest, parseTreeManifest, type TreeManifest } from './tree-manifest.js'

/**
 * A shared item: one file (a version-1 manifest, manifest.ts) or one folder
 * (version 2, tree-manifest.ts). Both are fetched, stored and served as a
 * run of chunks with global indices; a ChunkPlan says how long chunk i is
 * and what it hashes to, whichever the item is.
 */
export type ItemManifest = Manifest | TreeManifest

export function isTree(manifest: ItemManifest): manifest is TreeManifest {
  return manifest.version === 2
}

/** The chunks of an item, by global index. */
export interface ChunkPlan {
  readonly chunkSize: number
  readonly chunkCount: number
  /** Bytes of all chunks together (a folder's: all its files'). */
  readonly size: number
  /**
   * Length of the packed `data` a download writes: chunk i at byte
   * i × chunkSize, so the end of the last chunk (a file's size; a folder's
   * short last chunks leave holes).
   */
  readonly packedSize: number
  chunkLength(index: number): number
  chunkHash(index: number): string
}

/** A single file's chunks: chunk i at byte i × chunkSize. */
class FilePlan implements ChunkPlan {
  readonly chunkSize: number
  readonly chunkCount: number
  readonly size: number
  readonly packedSize: number

  constructor(private readonly manifest: Manifest) {
    this.chunkSize = manifest.chunkSize
    this.chunkCount = chunkCount(manifest.size, manifest.chunkSize)
    this.size = manifest.size
    this.packedSize = manifest.size
  }

  chunkLength(index: number): number {
    return chunkLength(this.manifest, index)
  }

  chunkHash(index: number): string {
    return this.manifest.chunks[index]!
  }
}

const plans = new WeakMap<ItemManifest, ChunkPlan>()

/** The item's chunk plan (built once per manifest object). */
export function planOf(manifest: ItemManifest): ChunkPlan {
  let plan = plans.get(manifest)
  if (plan === undefined) {
    plan = isTree(manifest) ? new TreeLayout(manifest) : new FilePlan(manifest)
    plans.set(manifest, plan)
  }
  return plan
}

/** A folder's layout (the same object planOf gives). */
export function layoutOf(manifest: TreeManifest): TreeLayout {
  return planOf(manifest) as TreeLayout
}

export function encodeItemManifest(manifest: ItemManifest): Buffer {
  return isTree(manifest) ? encodeTreeManifest(manifest) : encodeManifest(manifest)
}

export interface ParseItemOptions extends ParseManifestOptions {
  /** Most entries a folder may list. */
  maxEntries?: number
}

const TREE_PREFIX = Buffer.from('{"version":2,')

/**
 * Untrusted manifest bytes of either version. A canonical manifest starts
 * with its version, so the prefix picks the parser; anything else is refused
 * by the version-1 parser (which wants canonical bytes of version 1).
 */
export function parseItemManifest(bytes: Uint8Array, options: ParseItemOptions = {}): ItemManifest {
  if (Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, TREE_PREFIX.length)).equals(TREE_PREFIX)) {
    return parseTreeManifest(bytes, { ...options, maxEntries: options.maxEntries ?? DEFAULT_MAX_TREE_ENTRIES })
  }
  return parseManifest(bytes, options)
}

/** What a listing shows of an item: its bytes, and for a folder its files and directories. */
export interface ItemSummary {
  size: number
  chunks: number
  folder?: { files: number; dirs: number }
}

export function summaryOf(manifest: ItemManifest): ItemSummary {
  const plan = planOf(manifest)
  if (!isTree(manifest)) return { size: plan.size, chunks: plan.chunkCount }
  const layout = plan as TreeLayout
  return { size: plan.size, chunks: plan.chunkCount, folder: { files: layout.files.length, dirs: layout.dirCount } }
}
