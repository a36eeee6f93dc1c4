import { constants, openSync } from 'node:fs'
import { type BufferLease, BufferPool } from './buffer-pool.js'
import { readFully, readFullySync } from './read-fully.js'
import { writeFully, writeFullySync } from './write-fully.js'

/**
 * A download's packed `data` written and read around the page cache
 * (O_DIRECT), as databases and libtorrent's "disable OS cache" do: a chunk
 * goes from our buffer to the disk without first being copied into fresh
 * page-cache pages, which on this kind of VM cost more than hashing and
 * encrypting it (docs/benchmarks.md, "Direct I/O"). The kernel keeps direct
 * and buffered access to one file coherent; durability still comes from the
 * fsync before the final name.
 *
 * O_DIRECT wants the offset, the length and the memory aligned to the
 * device's block: offsets and lengths are kept to multiples of
 * DIRECT_ALIGN and the bytes go through page-aligned buffers (a
 * WebAssembly.Memory starts on a page boundary; ordinary ArrayBuffers do
 * not). Whatever does not fit — a chunk size that is not a multiple of
 * 4 KiB, a short last chunk, a system without O_DIRECT, a filesystem that
 * refuses it at open (tmpfs) or at a write or read (EINVAL) — goes through
 * the page cache as before, on the file's ordinary descriptor.
 */

export const DIRECT_ALIGN = 4096
/** WebAssembly memory grows in pages of this size: the smallest aligned buffer, and the smallest direct write. */
const WASM_PAGE = 65536
/** At most this many of the main thread's reads and writes go direct at once (each through a buffer of its own). */
const MAX_ALIGNED_LEASES = 2

/** The descriptors of one open file: the ordinary one, and the same file opened O_DIRECT when that worked. */
export interface DirectTarget {
  fd: number
  directFd?: number
}

declare const WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer } }

/** `size` bytes of page-aligned memory of their own. */
export function alignedBuffer(size: number): Buffer {
  const pages = Math.max(1, Math.ceil(size / WASM_PAGE))
  return Buffer.from(new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer, 0, size)
}

/** The main thread's aligned buffers, each leased to one read or write at a time. */
const aligned = new BufferPool({ maxPerSize: MAX_ALIGNED_LEASES, allocate: alignedBuffer })

/**
 * An aligned buffer for one read or write, or undefined when MAX_ALIGNED_LEASES are out: that one goes through the
 * page cache instead, so what direct I/O adds to a process's memory is bounded whatever the number of reads and
 * writes at once.
 */
function leaseAligned(size: number): BufferLease | undefined {
  return aligned.outstanding < MAX_ALIGNED_LEASES ? aligned.lease(Math.max(WASM_PAGE, size)) : undefined
}

/**
 * The open file `fd` opened again with O_DIRECT (through /proc/self/fd: the
 * very file, whatever its path now names), or undefined where that is not
 * to be had. The caller owns the new descriptor.
 */
export function reopenDirect(fd: number, writable: boolean): number | undefined {
  if (constants.O_DIRECT === undefined) return undefined
  const access = writable ? constants.O_RDWR : constants.O_RDONLY
  try {
    return openSync(`/proc/self/fd/${fd}`, access | constants.O_DIRECT | constants.O_NONBLOCK)
  } catch {
    return undefined
  }
}

/** Whether a write of `length` bytes at `position` may go direct (a whole number of blocks, at least a page). */
export function fitsDirectWrite(length: number, position: number): boolean {
  return length >= WASM_PAGE && length % DIRECT_ALIGN === 0 && position % DIRECT_ALIGN === 0
}

function refused(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'EINVAL'
}

/**
 * `data` written whole at `position`, synchronously: direct through
 * `scratch` (an aligned buffer the caller owns, at least data's length) when
 * it fits, else buffered. For the hash thread, which writes one chunk at a time.
 */
export function writeChunkSync(target: DirectTarget, data: Uint8Array, position: number, scratch: () => Buffer): void {
  if (target.directFd !== undefined && fitsDirectWrite(data.byteLength, position)) {
    const buffer = scratch().subarray(0, data.byteLength)
    buffer.set(data)
    try {
      writeFullySync(target.directFd, buffer, position)
      return
    } catch (err) {
      if (!refused(err)) throw err
    }
  }
  writeFullySync(target.fd, data, position)
}

/** The same through libuv's pool, through an aligned buffer leased for the write. */
export async function writeChunk(target: DirectTarget, data: Uint8Array, position: number): Promise<void> {
  const lease =
    target.directFd !== undefined && fitsDirectWrite(data.byteLength, position)
      ? leaseAligned(data.byteLength)
      : undefined
  if (lease !== undefined) {
    try {
      const buffer = lease.buffer.subarray(0, data.byteLength)
      buffer.set(data)
      await writeFully(target.directFd!, buffer, position)
      return
    } catch (err) {
      if (!refused(err)) throw err
    } finally {
      lease.release()
    }
  }
  await writeFully(target.fd, data, position)
}

function directReadable(target: DirectTarget, length: number, position: number): boolean {
  return target.directFd !== undefined && position % DIRECT_ALIGN === 0 && length > 0
}

/**
 * `length` bytes at `position` into `into`, synchronously; returns how many (fewer only at the file's end). A
 * direct read takes whole blocks: the last chunk's is rounded up, and comes back short at the file's end.
 */
export function readChunkSync(target: DirectTarget, into: Uint8Array, length: number, position: number): number {
  const whole = Math.ceil(length / DIRECT_ALIGN) * DIRECT_ALIGN
  const lease = directReadable(target, length, position) ? leaseAligned(whole) : undefined
  if (lease !== undefined) {
    try {
      const got = Math.min(length, readFullySync(target.directFd!, lease.buffer, whole, position))
      into.set(lease.buffer.subarray(0, got))
      return got
    } catch (err) {
      if (!refused(err)) throw err
    } finally {
      lease.release()
    }
  }
  return readFullySync(target.fd, into, length, position)
}

/**
 * The same through libuv's pool. Reads through the page cache of at most `syncBytes` are done here (readFully); a
 * direct read never is, as it waits for the disk.
 */
export async function readChunk(
  target: DirectTarget,
  into: Uint8Array,
  length: number,
  position: number,
  syncBytes = 0,
): Promise<number> {
  const whole = Math.ceil(length / DIRECT_ALIGN) * DIRECT_ALIGN
  const lease = directReadable(target, length, position) ? leaseAligned(whole) : undefined
  if (lease !== undefined) {
    try {
      const got = Math.min(length, await readFully(target.directFd!, lease.buffer, whole, position))
      into.set(lease.buffer.subarray(0, got))
      return got
    } catch (err) {
      if (!refused(err)) throw err
    } finally {
      lease.release()
    }
  }
  return readFully(target.fd, into, length, position, syncBytes)
}

/** Aligned buffers leased and not yet given back (tests: every read and write gives its buffer back once). */
export function alignedLeasesOutstanding(): number {
  return aligned.outstanding
}
