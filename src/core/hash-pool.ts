import { availableParallelism } from 'node:os'
import { writeChunk } from './direct-io.js'
import { writeNewFile } from './disk.js'
import type { HashPace } from './hash-pace.js'
import { type HashStream, streamHere } from './hash-stream.js'
import { type Hashed, HashWorker, type StoreTarget } from './hashing.js'
import { sha256Hex } from './manifest.js'
import { writeFullySync } from './write-fully.js'

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
