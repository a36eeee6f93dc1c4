import { Worker } from 'node:worker_threads'
import { BufferPool, handedBack, mayHandOver } from './buffer-pool.js'
import type { DirectTarget } from './direct-io.js'
import type { HashStream } from './hash-stream.js'

/**
 * SHA-256 on a worker thread, so hashing runs on the second core while the
 * main thread reads files, serves sockets or feeds another hash: on two
 * cores, doing one of the two hashes (chunk and whole file) off the main
 * thread is what beats OpenSSL. WebCrypto's async digest is not used: it is
 * far slower with many jobs in flight (docs/benchmarks.md, "Measurements
 * behind the code").
 *
 * Data backed by a SharedArrayBuffer crosses without a copy: the caller must
 * not touch those bytes until the returned promise settles. Data in memory
 * of its own (buffer-pool.ts `plainBuffer`: a download's chunk buffers) is
 * handed over by `digestAndStore`: transferred to the thread and back, no
 * copy; the caller's Buffer is then empty and the answer carries a new one
 * over the same memory. Other data is copied once into a transfer copy
 * that the thread hands back with its answer: the copies are pooled
 * (`transfers`), so a chunk does not cost fresh pages. Memory crossing to
 * the thread has one owner at a time (the caller or the pool, then the job
 * until its answer, then the caller or the pool again); memory whose answer
 * never comes (the thread exited) is left to the garbage collector.
 */
export class HashWorker {
  private worker: Worker | undefined
  private nextJob = 1
  private nextStream = 1
  /** Idle transfer copies; the busy ones are on the thread. */
  readonly transfers = new BufferPool({ maxPerSize: 4 })
  private readonly pending = new Map<number, Job>()
  /** Jobs pending on each thread (a closed thread's may still be, while a new one takes the next). */
  private readonly jobsOn = new Map<Worker, number>()

  /** `handOver`: the caller gives up `data`'s memory for the job (only memory of its own moves; see above). */
  private post(
    message: {
      op: string
      data?: Uint8Array
      fd?: number
      offset?: number
      expect?: string
      stream?: number
      path?: string
    },
    handOver = false,
  ): Promise<Answer> {
    const worker = this.start()
    const job = this.nextJob++
    const data = message.data
    const moved = handOver && data !== undefined && mayHandOver(data)
    // Posted first, registered after: a message that cannot be posted (data that cannot be cloned) rejects
    // here, and leaves no job pending that no answer would end (nor the thread kept referenced for it).
    try {
      if (data === undefined || data.buffer instanceof SharedArrayBuffer) {
        worker.postMessage({ ...message, job })
      } else if (moved) {
        worker.postMessage({ ...message, job }, [data.buffer as ArrayBuffer])
      } else {
        const copy = this.transfers.take(data.byteLength)
        copy.set(data)
        worker.postMessage({ ...message, job, data: copy }, [copy.buffer as ArrayBuffer])
      }
    } catch (err) {
      return Promise.reject(err)
    }
    const promise = new Promise<Answer>((resolve, reject) =>
      this.pending.set(job, { resolve, reject, moved, thread: worker }),
    )
    this.jobsOn.set(worker, (this.jobsOn.get(worker) ?? 0) + 1)
    worker.ref()
    return promise
  }

  /** Jobs sent and not answered yet. */
  get load(): number {
    return this.pending.size
  }

  /** Whether its thread has been started (and not closed or exited). */
  get running(): boolean {
    return this.worker !== undefined
  }

  private start(): Worker {
    if (this.worker) return this.worker
    const worker = new Worker(new URL('./hash-thread.js', import.meta.url))
    worker.on('message', (m: { job: number; hex?: string; error?: string; errno?: string; copy?: Uint8Array }) => {
      const entry = this.pending.get(m.job)
      // The memory that came back: the caller's (handed over), or a transfer copy for the pool.
      const back = m.copy && handedBack(m.copy)
      if (back && !entry?.moved) this.transfers.give(back)
      if (!entry) return
      this.pending.delete(m.job)
      this.ended(worker)
      if (m.error !== undefined) entry.reject(Object.assign(new Error(m.error), { code: m.errno }))
      else entry.resolve({ hex: m.hex ?? '', back: entry.moved ? back : undefined })
    })
    worker.on('error', (err) => this.failJobsOf(worker, err))
    // A thread closed (or crashed) may exit after a new one took its place: only its own jobs fail with it.
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = undefined
      this.failJobsOf(worker, new Error('hash worker exited'))
    })
    worker.unref()
    this.worker = worker
    return worker
  }

  /** One job of `thread` ended: a thread keeps the process alive only while a job of its own is pending. */
  private ended(thread: Worker): void {
    const left = (this.jobsOn.get(thread) ?? 1) - 1
    if (left > 0) return void this.jobsOn.set(thread, left)
    this.jobsOn.delete(thread)
    thread.unref()
  }

  private failJobsOf(thread: Worker, err: Error): void {
    for (const [job, entry] of this.pending) {
      if (entry.thread !== thread) continue
      this.pending.delete(job)
      entry.reject(err)
    }
    this.jobsOn.delete(thread)
    thread.unref()
  }

  /**
   * SHA-256 (hex) of `data`, then — only when it equals `expect` — `data`
   * written at `target.offset` of the open file `target.fd`, or direct through
   * `target.directFd` (direct-io.ts); both must stay open until this
   * settles. All on the worker. Write
   * failures reject with the fs error's `code`.
   */
  async digestAndStore<T extends Uint8Array>(data: T, target: StoreTarget, expect: string): Promise<Hashed<T>> {
    const { hex, back } = await this.post({ op: 'store', data, ...target, expect }, true)
    return { hex, data: (back as T | undefined) ?? data }
  }

  /** SHA-256 (hex) of `data`. */
  async digest(data: Uint8Array): Promise<string> {
    return (await this.post({ op: 'digest', data })).hex
  }

  /** SHA-256 (hex) of `data`, written as the new file `path` (as HashPool.digestAndCreate). */
  async digestAndCreate(data: Uint8Array, path: string): Promise<string> {
    return (await this.post({ op: 'create', data, path })).hex
  }

  /**
   * A SHA-256 fed in order on this thread (a HashStream; the thread's messages keep their order). It lives
   * in the thread's memory: once the thread is gone (closed, or exited), every call rejects, never a digest
   * of what a new thread saw.
   */
  stream(): HashStream {
    const stream = this.nextStream++
    const thread = this.start()
    const post = (op: 'update' | 'final', data?: Uint8Array): Promise<Answer> =>
      this.worker === thread ? this.post({ op, stream, data }) : Promise.reject(new Error('hash worker exited'))
    return {
      update: async (data) => {
        await post('update', data)
      },
      digest: async () => (await post('final')).hex,
    }
  }

  async close(): Promise<void> {
    const worker = this.worker
    this.worker = undefined
    if (worker) await worker.terminate()
  }
}

/** Where digestAndStore writes into an open file. */
export interface StoreTarget extends DirectTarget {
  offset: number
}

/**
 * A hash-and-write's result: the digest, and the caller's bytes to go on
 * with: the same Buffer, or a new one over the same memory when it was
 * handed over to the thread (the one passed in is then empty).
 */
export interface Hashed<T extends Uint8Array> {
  hex: string
  data: T
}

interface Answer {
  hex: string
  /** The caller's memory, back from the thread (a job that handed it over). */
  back?: Buffer
}

interface Job {
  resolve: (answer: Answer) => void
  reject: (err: Error) => void
  moved: boolean
  /** The thread the job was posted to: its answer, or its exit, ends the job. */
  thread: Worker
}
