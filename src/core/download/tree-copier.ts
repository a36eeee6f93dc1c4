import { Worker } from 'node:worker_threads'
import type { DirectTarget } from '../direct-io.js'
import { P2PError } from '../errors.js'

/**
 * A folder download's copy thread (tree-copy-thread.ts): the small files of
 * the tree copied out of the store's packed `data`, off the main thread.
 * With 10,000 small files, their creates, reads, writes and checks were a
 * third of the download's main thread (docs/benchmarks.md, "A folder's small
 * files on a thread of their own"); on two cores the main thread is the
 * wall, and this thread takes the second core's slack.
 *
 * One owner (the tree's builder, tree-writer.ts) starts it with the first
 * file and closes it once its copies have settled. Every `copy` settles
 * exactly once: with the thread's answer, or rejected when the thread
 * fails or the copier is closed first. The descriptors a request names
 * must stay open until it settles.
 */

/** A device and inode as made-table.ts keeps them: 64-bit two's complement. */
export interface RecordedIdentity {
  dev: bigint
  ino: bigint
}

export interface CopyRequest {
  job: number
  /** The tree's directories from its root down to the file's, each to be the one recorded. */
  chain: Array<RecordedIdentity & { path: string }>
  target: string
  exec: boolean
  /** `data`'s descriptors (direct-io.ts). */
  source: DirectTarget
  offset: number
  size: number
  /** Hash the bytes and refuse them unless they are `sha256` (a file of one chunk was checked as that chunk). */
  hash: boolean
  sha256: string
  /** fdatasync the file before closing it. */
  sync: boolean
}

export type CopyAnswer =
  | { job: number; identity: RecordedIdentity }
  | {
      job: number
      /** swapped: `path` is not what the tree made; inconsistent: the bytes hash to `error`; short: `data` ended early. */
      kind: 'swapped' | 'inconsistent' | 'short' | 'fs'
      error: string
      errno?: string
      path?: string
    }

/** Files of at most this many bytes go to the thread (larger ones are few, and copied through libuv's pool). */
export const THREAD_COPY_BYTES = 1024 * 1024

interface Pending {
  resolve: (answer: CopyAnswer) => void
  reject: (err: unknown) => void
}

export class TreeCopier {
  private worker: Worker | undefined
  private nextJob = 1
  private readonly pending = new Map<number, Pending>()
  private closed = false

  /** Copies asked and not settled yet. */
  get load(): number {
    return this.pending.size
  }

  /** The thread's answer for one file. */
  copy(request: Omit<CopyRequest, 'job'>): Promise<CopyAnswer> {
    if (this.closed) return Promise.reject(new P2PError('E_INTERRUPTED', 'the folder copy thread is closed'))
    if (request.size > THREAD_COPY_BYTES) return Promise.reject(new P2PError('E_INTERNAL', 'file too large to copy'))
    let worker: Worker
    const job = this.nextJob++
    try {
      worker = this.start()
      worker.postMessage({ ...request, job })
    } catch (err) {
      return Promise.reject(err)
    }
    const answer = new Promise<CopyAnswer>((resolve, reject) => this.pending.set(job, { resolve, reject }))
    if (this.pending.size === 1) worker.ref() // the process waits for a copy under way, not for an idle thread
    return answer
  }

  private start(): Worker {
    if (this.worker) return this.worker
    const worker = new Worker(new URL('./tree-copy-thread.js', import.meta.url))
    worker.on('message', (answer: CopyAnswer) => {
      const entry = this.pending.get(answer.job)
      if (!entry) return
      this.pending.delete(answer.job)
      if (this.pending.size === 0) worker.unref()
      entry.resolve(answer)
    })
    worker.on('error', (err) => this.failAll(err))
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = undefined
      this.failAll(new P2PError('E_INTERNAL', 'the folder copy thread exited'))
    })
    worker.unref()
    this.worker = worker
    return worker
  }

  private failAll(err: unknown): void {
    const entries = [...this.pending.values()]
    this.pending.clear()
    for (const entry of entries) entry.reject(err)
  }

  /** No copy starts any more; one not answered yet is rejected, and the thread ends. */
  async close(): Promise<void> {
    this.closed = true
    const worker = this.worker
    this.worker = undefined
    this.failAll(new P2PError('E_INTERRUPTED', 'the folder copy thread was closed'))
    if (worker) await worker.terminate()
  }
}
