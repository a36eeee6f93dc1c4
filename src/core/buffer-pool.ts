import { P2PError } from './errors.js'

/**
 * Reusable chunk-sized buffers. Reusing them keeps the resident size flat:
 * a fresh 1 MiB buffer per chunk is external memory the garbage collector
 * frees late, and on this kind of VM its fresh pages cost more than the
 * bytes they hold (docs/benchmarks.md, "Measurements behind the code").
 * A pool's buffers are memory of their own (`plainBuffer`: an ArrayBuffer
 * never cut from Node's shared slab), which sodium-native can read and write
 * (it cannot touch a SharedArrayBuffer) and whose holder may hand it over
 * to the hash thread and back (hashing.ts). What is only hashed and never
 * encrypted (a split's reads) uses `sharedBuffer` instead, outside any pool.
 *
 * A buffer in the pool is free: two owners of one buffer would read two
 * chunks into the same memory, and one of them would send the other's bytes.
 * So `give` refuses a buffer the pool already holds (reported as a
 * violation, never stored twice), and `lease` hands out a buffer with a
 * release that returns it exactly once: a second release is reported and
 * does nothing.
 */

/** What to do with an ownership bug (a double release): count and log it in production, throw in tests. */
export type OnViolation = (err: P2PError) => void

export const throwViolation: OnViolation = (err) => {
  throw err
}

export interface BufferLease {
  readonly buffer: Buffer
  /** Give the buffer back; the caller must not touch it afterwards. */
  release(): void
}

export interface BufferPoolOptions {
  maxPerSize?: number
  onViolation?: OnViolation
}

/** Buffer over fresh shared memory: hand it to the hash worker without a copy. */
export function sharedBuffer(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size))
}

/**
 * The memory plainBuffer made, and that memory again once a thread handed it
 * back: an ArrayBuffer no other Buffer is cut from, so whoever holds it may
 * hand it over to a thread (transfer it, which detaches every view of it)
 * without taking another owner's bytes along. A Buffer from anywhere else
 * (Node's slab, a read buffer's view) is never handed over: it is copied.
 */
const ownMemory = new WeakSet<ArrayBufferLike>()

/** Buffer over an ArrayBuffer of its own (not a slice of Node's slab): transferable to a thread. */
export function plainBuffer(size: number): Buffer {
  const memory = new ArrayBuffer(size)
  ownMemory.add(memory)
  return Buffer.from(memory)
}

/**
 * Whether `bytes` lie in memory of its own (plainBuffer), which its holder may hand over to a thread; never
 * memory already handed over (detached: empty).
 */
export function mayHandOver(bytes: Uint8Array): boolean {
  return ownMemory.has(bytes.buffer) && bytes.buffer.byteLength > 0
}

/** A view a thread handed back, as a Buffer over memory that may be handed over again. */
export function handedBack(view: Uint8Array): Buffer {
  ownMemory.add(view.buffer)
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength)
}

export class BufferPool {
  private readonly free = new Map<number, Buffer[]>()
  /** The memory of every buffer now in `free`: what makes a second `give` detectable. */
  private readonly held = new WeakSet<ArrayBufferLike>()
  private readonly maxPerSize: number
  private readonly onViolation: OnViolation
  private leased = 0
  /** Ownership bugs seen (each also passed to onViolation). */
  violations = 0

  /** By default a violation is only counted: the pool stays sound either way. */
  constructor(options: BufferPoolOptions | number = {}) {
    const given = typeof options === 'number' ? { maxPerSize: options } : options
    this.maxPerSize = given.maxPerSize ?? 64
    this.onViolation = given.onViolation ?? (() => undefined)
  }

  private violation(message: string): void {
    this.violations++
    this.onViolation(new P2PError('E_INTERNAL', message))
  }

  /** Leases not yet released. */
  get outstanding(): number {
    return this.leased
  }

  take(size: number): Buffer {
    const whole = sizeClass(size)
    let buffer = this.free.get(whole)?.pop()
    if (buffer) this.held.delete(buffer.buffer)
    else buffer = plainBuffer(whole)
    return size === whole ? buffer : buffer.subarray(0, size)
  }

  /**
   * Return a buffer from `take`; anything else (memory not of plainBuffer's
   * making — shared memory, a slice of Node's slab, a Buffer.alloc —, a
   * view not at its start, memory transferred away) is ignored, and a
   * buffer the pool already holds is refused and reported.
   */
  give(buffer: Buffer): void {
    const memory = buffer.buffer
    if (!ownMemory.has(memory) || buffer.byteOffset !== 0 || memory.byteLength !== sizeClass(buffer.byteLength)) return
    if (this.held.has(memory)) {
      this.violation(`a ${buffer.length}-byte buffer was given back to the pool twice`)
      return
    }
    let list = this.free.get(memory.byteLength)
    if (!list) {
      list = []
      this.free.set(memory.byteLength, list)
    }
    if (list.length >= this.maxPerSize) return
    list.push(buffer.byteLength === memory.byteLength ? buffer : Buffer.from(memory))
    this.held.add(memory)
  }

  /** A buffer of `size` bytes owned by the lease until its single release. */
  lease(size: number): BufferLease {
    let buffer: Buffer | undefined = this.take(size)
    this.leased++
    return {
      buffer,
      release: () => {
        if (buffer === undefined) {
          this.violation(`a lease of a ${size}-byte buffer was released twice`)
          return
        }
        const returned = buffer
        buffer = undefined
        this.leased--
        this.give(returned)
      },
    }
  }

  /** Buffers now free in the pool, and whether any appears twice (never, by construction; tests check). */
  audit(): { free: number; duplicates: number } {
    const seen = new Set<ArrayBufferLike>()
    let free = 0
    for (const list of this.free.values()) {
      for (const b of list) {
        free++
        seen.add(b.buffer)
      }
    }
    return { free, duplicates: free - seen.size }
  }
}

const MIN_CLASS = 4096

/** The memory a buffer of `size` bytes is cut from: the next power of two, at least 4 KiB. */
export function sizeClass(size: number): number {
  if (size <= MIN_CLASS) return MIN_CLASS
  return 2 ** Math.ceil(Math.log2(size))
}
