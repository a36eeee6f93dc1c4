import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { BufferPool } from './buffer-pool.js'
import type { HashPace } from './hash-pace.js'
import { sha256Hex } from './manifest.js'
import { writeFully, writeFullySync } from './write-fully.js'

/**
 * SHA-256 on a worker thread, so hashing runs on the second core while the
 * main thread reads files, serves sockets or feeds another hash: on two
 * cores, doing one of the two hashes (chunk and whole file) off the main
 * thread is what beats OpenSSL. WebCrypto's async digest is not used: it is
 * far slower with many jobs in flight (docs/benchmarks.md, "Measurements
 * behind the code").
 *
 * Data backed by a SharedArrayBuffer crosses without a copy: the caller must
 * not touch those bytes until the returned promise settles. Other data is
 * copied once into a transfer copy that the thread hands back with its
 * answer: the copies are pooled (`transfers`), so a chunk does not cost
 * fresh pages. A copy has one owner at a time: the pool, then the job
 * (until the answer), then the pool again; one whose answer never comes
 * (the thread exited) is left to the garbage collector.
 */
export class HashWorker {
  private worker: Worker | undefined
  private nextJob = 1
  /** Idle transfer copies; the busy ones are on the thread. Enough for a download's chunks in flight. */
  readonly transfers = new BufferPool({ memory: 'plain', maxPerSize: 8 })
  private readonly pending = new Map<number, { resolve: (hex: string) => void; reject: (err: Error) => void }>()

  private post(message: {
    op: string
    data?: Uint8Array
    fd?: number
    offset?: number
    expect?: string
  }): Promise<string> {
    const worker = this.start()
    const job = this.nextJob++
    const promise = new Promise<string>((resolve, reject) => this.pending.set(job, { resolve, reject }))
    if (this.pending.size === 1) worker.ref()
    const data = message.data
    if (data === undefined || data.buffer instanceof SharedArrayBuffer) {
      worker.postMessage({ ...message, job })
    } else {
      const copy = this.transfers.take(data.byteLength)
      copy.set(data)
      worker.postMessage({ ...message, job, data: copy }, [copy.buffer as ArrayBuffer])
    }
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
      if (m.copy) this.transfers.give(Buffer.from(m.copy.buffer, m.copy.byteOffset, m.copy.byteLength))
      const entry = this.pending.get(m.job)
      if (!entry) return
      this.pending.delete(m.job)
      if (this.pending.size === 0) worker.unref()
      if (m.error !== undefined) entry.reject(Object.assign(new Error(m.error), { code: m.errno }))
      else entry.resolve(m.hex ?? '')
    })
    worker.on('error', (err) => this.failAll(err))
    worker.on('exit', () => {
      this.worker = undefined
      this.failAll(new Error('hash worker exited'))
    })
    worker.unref()
    this.worker = worker
    return worker
  }

  private failAll(err: Error): void {
    for (const entry of this.pending.values()) entry.reject(err)
    this.pending.clear()
  }

  /**
   * SHA-256 (hex) of `data`, then — only when it equals `expect` — `data`
   * written at `target.offset` of the open file `target.fd`
   * (which must stay open until this settles), all on the worker. Write
   * failures reject with the fs error's `code`.
   */
  digestAndStore(data: Uint8Array, target: StoreTarget, expect: string): Promise<string> {
    return this.post({ op: 'store', data, ...target, expect })
  }

  /** SHA-256 (hex) of `data`. */
  digest(data: Uint8Array): Promise<string> {
    return this.post({ op: 'digest', data })
  }

  async close(): Promise<void> {
    const worker = this.worker
    this.worker = undefined
    if (worker) await worker.terminate()
  }
}

/** Where digestAndStore writes into an open file. */
export interface StoreTarget {
  fd: number
  offset: number
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

  digestAndStore(data: Uint8Array, target: StoreTarget, expect: string): Promise<string> {
    if (data.byteLength > INLINE_HASH_BYTES) return this.workers[0]!.digestAndStore(data, target, expect)
    const hex = sha256Hex(data)
    if (hex !== expect) return Promise.resolve(hex)
    try {
      writeFullySync(target.fd, data, target.offset)
      return Promise.resolve(hex)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * The same as `digestAndStore` with the hash on the calling thread and, past INLINE_HASH_BYTES, the write on
   * libuv's pool (a write that waits for the disk does not hold the caller), starting no hash thread.
   */
  async digestAndStoreHere(data: Uint8Array, target: StoreTarget, expect: string): Promise<string> {
    if (data.byteLength <= INLINE_HASH_BYTES) return this.digestAndStore(data, target, expect)
    const hex = sha256Hex(data)
    if (hex === expect) await writeFully(target.fd, data, target.offset)
    return hex
  }

  digest(data: Uint8Array): Promise<string> {
    if (data.byteLength > INLINE_HASH_BYTES) return this.pick().digest(data)
    return Promise.resolve(sha256Hex(data))
  }

  /** `digest` on a hash thread once `pace` (the caller's, hash-pace.ts) says chunks come fast; until then here. */
  digestPaced(data: Uint8Array, pace: HashPace, now: number): Promise<string> {
    return pace.toThread(data.byteLength, now) ? this.digest(data) : Promise.resolve(sha256Hex(data))
  }

  /** `digestAndStore` on the same terms: until `pace` says fast, `digestAndStoreHere` (no thread started). */
  digestAndStorePaced(
    data: Uint8Array,
    target: StoreTarget,
    expect: string,
    pace: HashPace,
    now: number,
  ): Promise<string> {
    return pace.toThread(data.byteLength, now)
      ? this.digestAndStore(data, target, expect)
      : this.digestAndStoreHere(data, target, expect)
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
