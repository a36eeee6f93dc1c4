import type { Socket } from 'node:net'
import { type RecordSealer, sealedLength } from './records.js'

/**
 * Buffers that sealed (encrypted) output is written into, reused once the
 * socket has written them: a fresh buffer per record costs a page fault per
 * 4 KiB on this kind of VM (docs/benchmarks.md), more than sealing it.
 * Sizes are rounded up to a power of two (4 KiB … 4 MiB; others are plain
 * allocations); at most `maxIdleBytes` wait idle, the rest go to the GC.
 */

const MIN_POOLED = 4 * 1024
const MAX_POOLED = 4 * 1024 * 1024

export class SealBuffers {
  private readonly idle = new Map<number, ArrayBuffer[]>()
  private readonly pooled = new WeakSet<ArrayBuffer>()
  private idleBytes = 0

  constructor(private readonly maxIdleBytes = 16 * 1024 * 1024) {}

  /** A buffer of exactly `size` bytes (a view of a pooled one when the size is pooled). */
  take(size: number): Buffer {
    if (size < MIN_POOLED || size > MAX_POOLED) return Buffer.allocUnsafe(size)
    const capacity = 2 ** Math.ceil(Math.log2(size))
    const reuse = this.idle.get(capacity)?.pop()
    if (reuse) {
      this.idleBytes -= capacity
      return Buffer.from(reuse, 0, size)
    }
    const fresh = new ArrayBuffer(capacity)
    this.pooled.add(fresh)
    return Buffer.from(fresh, 0, size)
  }

  /** `buffer` (from take) is no longer used by anyone. */
  give(buffer: Buffer): void {
    const base = buffer.buffer as ArrayBuffer
    if (!this.pooled.has(base) || this.idleBytes + base.byteLength > this.maxIdleBytes) return
    const list = this.idle.get(base.byteLength) ?? []
    if (list.includes(base)) return // given twice: keep one copy, never hand it out twice
    list.push(base)
    this.idle.set(base.byteLength, list)
    this.idleBytes += base.byteLength
  }

  get idleByteCount(): number {
    return this.idleBytes
  }
}

/**
 * `plain` sealed into a buffer of `buffers` and written to `socket`; the buffer goes back once the socket has its
 * bytes. Returns what the socket's write returned (false: 'drain' follows).
 */
export function sendSealed(
  socket: Socket,
  buffers: SealBuffers,
  sealer: RecordSealer,
  plain: Buffer,
  callback?: (err?: Error | null) => void,
): boolean {
  const out = buffers.take(sealedLength(plain.byteLength))
  sealer.sealInto(plain, out)
  let returned = false
  const giveBack = (): void => {
    if (returned) return
    returned = true
    buffers.give(out)
  }
  const ok = socket.write(out, (err) => {
    giveBack()
    callback?.(err)
  })
  // Nothing left in the socket's queue: the kernel has every byte of `out` (a write libuv could not finish
  // keeps it queued), so it is free now. Its callback only runs on the next tick, and a sender writing in a
  // loop would otherwise take a fresh buffer (page faults) for every write until it yields.
  if (socket.writableLength === 0) giveBack()
  return ok
}
