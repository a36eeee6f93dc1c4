import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { BufferPool, handedBack, mayHandOver } from './buffer-pool.js'
import { type DirectTarget, writeChunk } from './direct-io.js'
import { writeNewFile } from './disk.js'
import type { HashPace } from './hash-pace.js'
import { type HashStream, streamHere } from './hash-stream.js'
import { sha256Hex } from './manifest.js'
import { writeFullySync } from './write-fully.js'

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
      this.refOnlyWhileBusy(worker)
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

  /** A thread keeps the process alive only while a job of its own is pending. */
  private refOnlyWhileBusy(thread: Worker): void {
    for (const entry of this.pending.values()) if (entry.thread === thread) return
    thread.unref()
  }

  private failJobsOf(thread: Worker, err: Error): void {
    for (const [job, entry] of this.pending) {
      if (entry.thread !== thread) continue
      this.pending.delete(job)
      entry.reject(err)
    }
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

/**
 * Several hash threads behind the HashWorker interface: each digest goes to
 * the least busy one (a thread starts on its first job), while every
 * hash-and-write goes to the first. A download's jobs are all
 * hash-and-writes, so it runs one thread at most (none while its chunks come
 * slowly: `digestAndStoreHere`, hash-pace.ts): each thread is a V8
 * isolate of its own, ~10 MB resident, and a second one measured no faster (issue 19,
 * docs/benchmarks.md: 1 GiB from 1 or 2 loopback seeders at the same wall
 * time with one thread, 10 MB lower). It was added for a thread stalled in a
 * write to fresh page-cache pages, which on this kind of VM costs as much as
 * hashing; with the download's main thread busy with the cipher on the
 * other core, it stopped paying for itself. Jobs of at most
 * INLINE_HASH_BYTES are done here instead: a round trip to a thread and back
 * costs more than hashing 64 KiB (a folder of 10,000 small files is 10,000
 * such chunks).
 */
export class HashPool {
  private readonly workers: HashWorker[]

  constructor(size: number) {
    this.workers = Array.from({ length: Math.max(1, size) }, () => new HashWorker())
  }

  private pick(): HashWorker {
    return this.workers.reduce((best, w) => (w.load < best.load ? w : best))
  }

  digestAndStore<T extends Uint8Array>(data: T, target: StoreTarget, expect: string): Promise<Hashed<T>> {
    if (data.byteLength > INLINE_HASH_BYTES) return this.workers[0]!.digestAndStore(data, target, expect)
    const hex = sha256Hex(data)
    if (hex !== expect) return Promise.resolve({ hex, data })
    try {
      writeFullySync(target.fd, data, target.offset) // through the page cache: direct writes take whole pages only
      return Promise.resolve({ hex, data })
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * The same as `digestAndStore` with the hash on the calling thread and, past INLINE_HASH_BYTES, the write on
   * libuv's pool (a write that waits for the disk does not hold the caller), starting no hash thread.
   */
  async digestAndStoreHere<T extends Uint8Array>(data: T, target: StoreTarget, expect: string): Promise<Hashed<T>> {
    if (data.byteLength <= INLINE_HASH_BYTES) return this.digestAndStore(data, target, expect)
    const hex = sha256Hex(data)
    if (hex === expect) await writeChunk(target, data, target.offset)
    return { hex, data }
  }

  digest(data: Uint8Array): Promise<string> {
    if (data.byteLength > INLINE_HASH_BYTES) return this.pick().digest(data)
    return Promise.resolve(sha256Hex(data))
  }

  /**
   * SHA-256 (hex) of `data`, and `data` written as the new file `path`: created first, failing with EEXIST
   * when anything is there (a link is not followed, nothing is hashed); a write that fails leaves the partial
   * file (disk.ts writeNewFile). Past INLINE_HASH_BYTES all on the least busy hash thread, one round trip;
   * else hashed here and written through libuv's pool.
   */
  async digestAndCreate(data: Uint8Array, path: string): Promise<string> {
    if (data.byteLength > INLINE_HASH_BYTES) return this.pick().digestAndCreate(data, path)
    await writeNewFile(path, data)
    return sha256Hex(data)
  }

  /** `digest` on a hash thread once `pace` (the caller's, hash-pace.ts) says chunks come fast; until then here. */
  digestPaced(data: Uint8Array, pace: HashPace, now: number): Promise<string> {
    return pace.toThread(data.byteLength, now) ? this.digest(data) : Promise.resolve(sha256Hex(data))
  }

  /** `digestAndStore` on the same terms: until `pace` says fast, `digestAndStoreHere` (no thread started). */
  digestAndStorePaced<T extends Uint8Array>(
    data: T,
    target: StoreTarget,
    expect: string,
    pace: HashPace,
    now: number,
  ): Promise<Hashed<T>> {
    return pace.toThread(data.byteLength, now)
      ? this.digestAndStore(data, target, expect)
      : this.digestAndStoreHere(data, target, expect)
  }

  /**
   * A HashStream for pieces of about `pieceBytes`: on a hash thread (the last, which hash-and-writes never
   * use) when they are larger than INLINE_HASH_BYTES, so a caller feeding a whole file's hash frees its own
   * core for the rest (split.ts: the main thread reads, the threads hash); on the calling thread otherwise.
   */
  stream(pieceBytes: number): HashStream {
    return pieceBytes > INLINE_HASH_BYTES ? this.workers[this.workers.length - 1]!.stream() : streamHere()
  }

  /** Hash threads running now (each started on its first job). */
  get threadsRunning(): number {
    return this.workers.filter((w) => w.running).length
  }
}

/** Jobs this small are hashed on the calling thread (HashPool). */
export const INLINE_HASH_BYTES = 64 * 1024

let shared: HashPool | undefined

/** The process-wide hash threads, up to two (started on first use, never keeping the process alive when idle). */
export function hashThreads(): HashPool {
  shared ??= new HashPool(Math.min(2, availableParallelism()))
  return shared
}
