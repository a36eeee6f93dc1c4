import { unlink } from 'node:fs/promises'
import type { Bitfield } from '../bitfield.js'
import { type ItemManifest, planOf } from '../item.js'
import type { Logger } from '../log.js'
import { readRegularFile } from '../safe-fs.js'
import type { ChunkStore } from '../store.js'
import type { ChunkBuffers } from './chunk-buffers.js'
import type { PackedWriter } from './packed-writer.js'

/**
 * The start of a download: what the store entry already holds — chunks a
 * previous run left in `data` (which `data.have` lists), or chunk files a
 * split left (copied into `data`, checked and written as a fetched chunk
 * is) — counts only after its hash is checked again. A chunk that fails is
 * dropped from `data.have` or its file removed, and fetched.
 */

export interface ResumeOptions {
  id: string
  store: ChunkStore
  /** The store entry's directory. */
  dir: string
  manifest: ItemManifest
  /** Only these chunks (a folder's --only); default all. */
  wanted?: Bitfield
  writer: PackedWriter
  buffers: ChunkBuffers
  signal: AbortSignal
  log: Logger
  /** Chunk `index` (`bytes` long) is verified and in `data`. */
  onResumed: (index: number, bytes: number) => void
}

/** Resumes what the store holds; returns the bytes resumed. */
export async function resumeChunks(options: ResumeOptions): Promise<number> {
  const { id, store, dir, manifest, writer, buffers, signal, log } = options
  const entry = await store.get(id)
  const plan = planOf(manifest)
  let resumed = 0
  // What `dir` holds: the store's entry is that directory (the copy a download writes into is the one a
  // scan lists), but should it not be, only what `data.have` there lists is read back.
  const held = entry?.dir === dir ? entry.have : writer.inherited
  for (const index of held.indices()) {
    signal.throwIfAborted()
    if (options.wanted && !options.wanted.get(index)) continue
    const length = plan.chunkLength(index)
    const inData = writer.inherited.get(index)
    const path = store.chunkPath(dir, index)
    let data: Buffer | undefined
    try {
      data = inData ? writer.read(index, buffers.take(length)) : await readRegularFile(path, { maxBytes: length })
    } catch {
      data = undefined
    }
    try {
      const expected = plan.chunkHash(index)
      let ok = data !== undefined && data.length === length
      if (ok && inData) ok = await writer.verify(data!, expected)
      else if (ok) {
        const verified = await writer.verifyAndWrite(index, data!, expected)
        data = verified.data // the hash thread may have taken the buffer's memory and given it back anew
        ok = verified.outcome === 'written'
      }
      if (ok) {
        writer.accept(index, data!)
        resumed += length
        options.onResumed(index, length)
      } else {
        log.warn({ index }, 'chunk in the store failed verification; fetching it again')
        if (inData) writer.drop(index)
        else await unlink(path).catch(() => undefined)
      }
    } finally {
      if (data) buffers.give(data)
    }
  }
  if (resumed > 0) log.info({ bytes: resumed }, 'resumed from the chunk store')
  return resumed
}
