import { createHash } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Bitfield } from '../bitfield.js'
import { P2PError } from '../errors.js'
import { layoutOf } from '../item.js'
import { TREE_RECORD_FILE } from '../packed.js'
import { printable } from '../printable.js'
import { isDir, type TreeFile, type TreeManifest } from '../tree-manifest.js'
import { TempTree } from './temp-tree.js'

/**
 * The end of a folder download: every chosen entry built in a temporary
 * tree beside the final name (temp-tree.ts), then the tree renamed into
 * place. Directories and empty files are made there; each other file is
 * copied out of the store entry's packed `data` (its bytes are one run from
 * its first chunk's offset), its whole-file SHA-256 computed on the way and
 * compared with the manifest's, written to disk (fdatasync) and only then
 * counted. A few files are copied at once, so many small files keep the
 * disk busy. A file that does not hash to the manifest's value stops the
 * download with E_CHECKSUM and the temporary tree is removed: its chunks
 * each matched, so the manifest itself lied about the whole (a peer can
 * make such a manifest; its id is still its hash).
 */

/** One file of a finished folder download, as the receipt lists it. */
export interface TreeFileReceipt {
  path: string
  size: number
  sha256: string
  exec?: true
}

export interface TreeBuilt {
  path: string
  /** A folder's: its id (the manifest's hash, which commits to every file's hash). */
  sha256: string
  alreadyThere: boolean
  files: TreeFileReceipt[]
  dirs: number
}

export interface BuildTreeOptions {
  manifest: TreeManifest
  /** Entries to build, by index (default: all). */
  chosen?: readonly boolean[]
  /** The chunks `data` holds: every chunk of a chosen file must be there. */
  have: Bitfield
  downloadsDir: string
  /** The store entry (holds `data` and the temporary tree's record). */
  entryDir: string
  read: (into: Buffer, length: number, position: number) => Promise<void>
  id: string
  beforeFinalName?: () => void | Promise<void>
  /** A file is being copied (for the progress line). */
  onFile?: (path: string) => void
}

/** Files copied at once. */
const PARALLEL_FILES = 8
const COPY_BYTES = 1024 * 1024

export async function buildTree(o: BuildTreeOptions): Promise<TreeBuilt> {
  const { manifest } = o
  const layout = layoutOf(manifest)
  const work: Array<{ file: TreeFile; first: number }> = []
  const receipts: TreeFileReceipt[] = []
  let dirs = 0
  let k = 0
  const tree = await TempTree.create({
    downloadsDir: o.downloadsDir,
    name: manifest.name,
    recordPath: join(o.entryDir, TREE_RECORD_FILE),
    storeRoot: dirname(o.entryDir),
  })
  try {
    for (const [i, entry] of manifest.entries.entries()) {
      const first = isDir(entry) ? 0 : layout.firstChunk(k++)
      if (o.chosen !== undefined && !o.chosen[i]) continue
      if (isDir(entry)) {
        tree.addDir(entry.path)
        dirs++
        continue
      }
      receipts.push({ path: entry.path, size: entry.size, sha256: entry.sha256, ...(entry.exec ? { exec: true } : {}) })
      if (entry.size === 0) tree.addEmptyFile(entry.path, entry.exec === true)
      else work.push({ file: entry, first })
    }
    for (const { file, first } of work)
      for (let j = 0; j < file.chunks.length; j++)
        if (!o.have.get(first + j))
          throw new P2PError('E_INTERNAL', `${printable(file.path)}: chunk ${first + j} is missing at the end`)
    let next = 0
    let failure: unknown
    const worker = async (): Promise<void> => {
      const buffer = Buffer.allocUnsafe(COPY_BYTES)
      while (next < work.length && failure === undefined) {
        const { file, first } = work[next++]!
        o.onFile?.(file.path)
        await copyFile(tree, file, first * manifest.chunkSize, buffer, o.read).catch((err: unknown) => {
          failure ??= err
        })
      }
    }
    await Promise.all(Array.from({ length: Math.min(PARALLEL_FILES, work.length) }, worker))
    if (failure !== undefined) throw failure
    await o.beforeFinalName?.()
    const placed = await tree.place()
    return { path: placed.path, sha256: o.id, alreadyThere: placed.alreadyThere, files: receipts, dirs }
  } catch (err) {
    await tree.discard()
    throw err
  }
}

/** `file`'s bytes from `data` at `offset` into a new file of the tree, hashed on the way. */
async function copyFile(
  tree: TempTree,
  file: TreeFile,
  offset: number,
  buffer: Buffer,
  read: BuildTreeOptions['read'],
): Promise<void> {
  await tree.addWrittenFile(
    file.path,
    file.exec === true,
    { size: file.size, sha256: file.sha256 },
    async (handle: FileHandle) => {
      const hash = createHash('sha256')
      for (let done = 0; done < file.size; ) {
        const piece = Math.min(buffer.length, file.size - done)
        await read(buffer, piece, offset + done)
        hash.update(buffer.subarray(0, piece))
        await writeAll(handle, buffer.subarray(0, piece), done)
        done += piece
      }
      const sha256 = hash.digest('hex')
      if (sha256 !== file.sha256)
        throw new P2PError(
          'E_CHECKSUM',
          `${printable(file.path)} hashes to ${sha256}, not ${file.sha256} as the manifest says (each chunk matched: the manifest is inconsistent); nothing was placed`,
        )
    },
  )
}

async function writeAll(handle: FileHandle, bytes: Buffer, position: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done)
    done += bytesWritten
  }
}
