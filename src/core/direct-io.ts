import { constants, openSync } from 'node:fs'
import type { BufferLease } from './buffer-pool.js'
import { readFullySync } from './read-fully.js'
import { writeFully, writeFullySync } from './write-fully.js'

/**
 * A download's packed `data` written and read past the page cache
 * (O_DIRECT), as databases and libtorrent's "disable OS cache" do: a chunk
 * goes from our buffer to the disk without first being copied into fresh
 * page-cache pages, which on this kind of VM cost more than hashing and
 * encrypting it (docs/benchmarks.md, "Direct I/O"). The kernel keeps direct
 * and buffered access to one file coherent; durability still comes from the
 * fsync before the final name.
 *
 * O_DIRECT wants the offset, the length and the memory aligned to the
 * device's block: offsets and lengths are kept to multiples of
 * DIRECT_ALIGN and the bytes go through page-aligned buffers of 1 MiB (a
 * WebAssembly.Memory starts on a page boundary; ordinary ArrayBuffers do
 * not), a larger chunk in pieces, so what this adds to a thread's memory is
 * a few MiB whatever the chunk size. Whatever does not fit — a chunk of
 * 64 KiB or less, a length that is not whole blocks (a short last chunk), a
 * system without O_DIRECT or /proc, a filesystem that refuses it at open
 * (tmpfs before Linux 6.6) or at a write or read (EINVAL), memory for the
 * buffers refused — goes through the page cache as before, on the file's
 * ordinary descriptor.
 */

export const DIRECT_ALIGN = 4096
/** The largest page size Linux uses (arm64, ppc64le); also the most a chunk hashed on the calling thread holds. */
const LARGEST_PAGE = 65536

/**
 * Whether a download with chunks of `chunkSize` goes direct: a multiple of the largest page size, so a chunk
 * written direct never shares a page with one written through the page cache (a short last chunk, a fallback),
 * which the kernel's coherence between the two works by; and larger than that, as chunks of 64 KiB or less are
 * hashed and written on the calling thread, through the page cache (hash-pool.ts), where reading them back direct
 * would make the kernel write them out first.
 */
export function directChunkSize(chunkSize: number): boolean {
  return chunkSize % LARGEST_PAGE === 0 && chunkSize > LARGEST_PAGE
}

/** Direct reads and writes go through aligned buffers of this size, a larger chunk in pieces. */
const PIECE = 1024 * 1024

/** The descriptors of one open file: the ordinary one, and the same file opened O_DIRECT when that worked. */
export interface DirectTarget {
  fd: number
  directFd?: number
}

declare const WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer } }

/** Memory alignedBuffer made: a direct read may fill it in place. */
const alignedMemory = new WeakSet<ArrayBufferLike>()

function pageAligned(size: number): Buffer {
  const pages = Math.max(1, Math.ceil(size / 65536)) // WebAssembly memory comes in pages of 64 KiB too
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer
  alignedMemory.add(memory)
  return Buffer.from(memory, 0, size)
}

/** A buffer of PIECE bytes of page-aligned memory of its own. */
function alignedPiece(): Buffer {
  return pageAligned(PIECE)
}

/**
 * `size` bytes of page-aligned memory, which a direct read fills without a copy through a piece (a reader's own
 * buffer: the whole-file hash's); an ordinary buffer where that memory cannot be had.
 */
export function alignedBuffer(size: number): Buffer {
  try {
    return pageAligned(size)
  } catch {
    return Buffer.allocUnsafe(size)
  }
}

/** Whether a direct read may fill `into` in place: its memory page-aligned (alignedBuffer's), its start a block's. */
function fillsInPlace(into: Uint8Array): boolean {
  return alignedMemory.has(into.buffer) && into.byteOffset % DIRECT_ALIGN === 0
}

/**
 * This thread's buffer for its synchronous reads and writes: one is enough, as nothing else runs on the thread
 * while one is under way (each thread, the hash thread included, has its own). Undefined when it cannot be had.
 */
let syncPiece: Buffer | undefined
function syncBuffer(): Buffer | undefined {
  try {
    syncPiece ??= alignedPiece()
  } catch {
    return undefined // address space for WebAssembly memory refused (ulimit -v): through the page cache
  }
  return syncPiece
}

/**
 * This thread's buffer for its asynchronous writes (a download's while its chunks come slowly, before its hash thread
 * starts: hash-pace.ts), whether one holds it, and the writes waiting their turn: one at a time (with two buffers,
 * reads through them too, a 16-host round's median peak RSS was 99-101 MB, docs/benchmarks.md).
 */
let asyncPiece: Buffer | undefined
let asyncHeld = false
const waiting: Array<() => void> = []

/**
 * The asynchronous writes' buffer for one write, once the one before gave it back; undefined if it cannot be made.
 * The lease's release gives it to the next write waiting.
 */
async function leasePiece(): Promise<BufferLease | undefined> {
  while (asyncHeld) await new Promise<void>((resolve) => waiting.push(resolve))
  try {
    asyncPiece ??= alignedPiece()
  } catch {
    waiting.shift()?.()
    return undefined
  }
  asyncHeld = true
  let held = true
  return {
    buffer: asyncPiece,
    release: () => {
      if (!held) return
      held = false
      asyncHeld = false
      waiting.shift()?.()
    },
  }
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

/** Whether `length` bytes at `position` may be written or read direct: whole blocks, more than 64 KiB. */
export function fitsDirect(length: number, position: number): boolean {
  return length > LARGEST_PAGE && length % DIRECT_ALIGN === 0 && position % DIRECT_ALIGN === 0
}

function refused(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'EINVAL'
}

/**
 * `data` written whole at `position`, synchronously: direct, a piece at a time through this thread's buffer, when
 * it fits, else (or when the write is refused: the whole chunk again) through the page cache.
 */
export function writeChunkSync(target: DirectTarget, data: Uint8Array, position: number): void {
  const buffer = target.directFd !== undefined && fitsDirect(data.byteLength, position) ? syncBuffer() : undefined
  if (buffer !== undefined) {
    try {
      for (let done = 0; done < data.byteLength; done += PIECE) {
        const piece = buffer.subarray(0, Math.min(PIECE, data.byteLength - done))
        piece.set(data.subarray(done, done + piece.length))
        writeFullySync(target.directFd!, piece, position + done, PIECE)
      }
      return
    } catch (err) {
      if (!refused(err)) throw err
    }
  }
  writeFullySync(target.fd, data, position)
}

/** The same through libuv's pool, through a buffer leased for the write (which waits for one). */
export async function writeChunk(target: DirectTarget, data: Uint8Array, position: number): Promise<void> {
  const lease = target.directFd !== undefined && fitsDirect(data.byteLength, position) ? await leasePiece() : undefined
  if (lease !== undefined) {
    try {
      for (let done = 0; done < data.byteLength; done += PIECE) {
        const piece = lease.buffer.subarray(0, Math.min(PIECE, data.byteLength - done))
        piece.set(data.subarray(done, done + piece.length))
        await writeFully(target.directFd!, piece, position + done, PIECE)
      }
      return
    } catch (err) {
      if (!refused(err)) throw err
    } finally {
      lease.release()
    }
  }
  await writeFully(target.fd, data, position)
}

/**
 * `length` bytes at `position` into `into`, synchronously; returns how many (fewer only when the file ends
 * first). Direct when it fits, like writeChunkSync.
 */
export function readChunkSync(target: DirectTarget, into: Uint8Array, length: number, position: number): number {
  const direct = target.directFd !== undefined && fitsDirect(length, position)
  const inPlace = direct && fillsInPlace(into)
  if (inPlace) {
    try {
      return readFullySync(target.directFd!, into, length, position)
    } catch (err) {
      if (!refused(err)) throw err
    }
  }
  const buffer = direct && !inPlace ? syncBuffer() : undefined
  if (buffer !== undefined) {
    try {
      let got = 0
      while (got < length) {
        const piece = buffer.subarray(0, Math.min(PIECE, length - got))
        const n = readFullySync(target.directFd!, piece, piece.length, position + got)
        into.set(piece.subarray(0, n), got)
        got += n
        if (n < piece.length) break
      }
      return got
    } catch (err) {
      if (!refused(err)) throw err
    }
  }
  return readFullySync(target.fd, into, length, position)
}

/** Asynchronous writes holding the buffer now, 0 or 1 (tests: each gives it back once). */
export function alignedLeasesOutstanding(): number {
  return asyncHeld ? 1 : 0
}
