import { isDir, type TreeFile, type TreeManifest } from './tree-manifest.js'

/**
 * Where each global chunk of a folder lives: file k's chunks are global
 * chunks [first(k), first(k + 1)), chunk j of a file at byte j × chunkSize of
 * it (tree-manifest.ts). Built once per manifest (one pass; a few bytes per
 * file); lookups by chunk index are a binary search. What the store, the
 * server and the download writer use to turn a global chunk index into a
 * file, an offset and a length.
 */
export class TreeLayout {
  /** The file entries, in manifest order (directories left out). */
  readonly files: readonly TreeFile[]
  /** Global index of each file's first chunk; one more element: the chunk count. */
  private readonly first: Float64Array
  readonly chunkSize: number
  /** Chunks of all files together. */
  readonly chunkCount: number
  /** Bytes of all files together. */
  readonly size: number
  readonly dirCount: number
  /** End of the last chunk when chunk i is at byte i × chunkSize (the packed `data` of a download). */
  readonly packedSize: number

  constructor(manifest: TreeManifest) {
    this.chunkSize = manifest.chunkSize
    const files: TreeFile[] = []
    for (const entry of manifest.entries) if (!isDir(entry)) files.push(entry)
    this.files = files
    this.dirCount = manifest.entries.length - files.length
    this.first = new Float64Array(files.length + 1)
    let chunks = 0
    let size = 0
    for (const [k, file] of files.entries()) {
      this.first[k] = chunks
      chunks += file.chunks.length
      size += file.size
    }
    this.first[files.length] = chunks
    this.chunkCount = chunks
    this.size = size
    this.packedSize = chunks === 0 ? 0 : (chunks - 1) * this.chunkSize + this.locate(chunks - 1).length
  }

  /** Global index of file `k`'s first chunk (its chunk count after it). */
  firstChunk(k: number): number {
    return this.first[k]!
  }

  /** The file holding global chunk `index` (never an empty file: it holds no chunk). */
  fileOf(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.chunkCount)
      throw new RangeError(`no chunk ${index} in ${this.chunkCount}`)
    // The last file whose first chunk is at or before `index`; an empty file k shares first(k) with
    // the file after it, so it is never the last such one.
    let lo = 0
    let hi = this.files.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (this.first[mid]! <= index) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  /** Global chunk `index` as file `file`, chunk `local` of it, at byte `offset` of it, `length` bytes. */
  locate(index: number): { file: number; local: number; offset: number; length: number } {
    const file = this.fileOf(index)
    const local = index - this.first[file]!
    const offset = local * this.chunkSize
    return { file, local, offset, length: Math.min(this.chunkSize, this.files[file]!.size - offset) }
  }

  chunkLength(index: number): number {
    return this.locate(index).length
  }

  chunkHash(index: number): string {
    const file = this.fileOf(index)
    return this.files[file]!.chunks[index - this.first[file]!]!
  }

  /** Every chunk hash in global order (shares the strings with the manifest). */
  chunkHashes(): string[] {
    const all: string[] = []
    for (const file of this.files) for (const hash of file.chunks) all.push(hash)
    return all
  }
}
