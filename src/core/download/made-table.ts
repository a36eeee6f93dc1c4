import { sep } from 'node:path'
import type { FileIdentity } from '../file-identity.js'

/** What a file of the tree must be when the tree is placed: this inode, and these bytes. */
export interface FileCheck {
  size: number
  sha256: string
}

/**
 * What a temporary tree made (temp-tree.ts): for each entry, by its path
 * below the tree's root, whether it is a directory, its device and inode,
 * and for a file the size and SHA-256 it must have. A folder may have
 * 100,000 entries, so they are kept in typed arrays beside one map from
 * path to slot (an object per entry, with its numbers boxed, was most of a
 * worst-case download's memory after the manifest itself); the paths are
 * the ones the caller passes, not copies.
 */
export class MadeTable {
  private readonly slots = new Map<string, number>()
  private readonly locals: string[] = []
  private readonly hashes: string[] = []
  /** Per slot: device and inode, exact (as 64-bit two's complement, as Node's bigint stats give them). */
  private ids = new BigInt64Array(2 * 256)
  /** Per slot: a file's size; -1 for a directory. */
  private sizes = new Float64Array(256)

  get count(): number {
    return this.locals.length
  }

  /** Record an entry (a second record of one path replaces the first): its slot. */
  add(local: string, dir: boolean, id: FileIdentity, check?: FileCheck): number {
    let slot = this.slots.get(local)
    if (slot === undefined) {
      slot = this.locals.length
      this.slots.set(local, slot)
      this.locals.push(local)
      if (slot + 1 > this.sizes.length) {
        const ids = new BigInt64Array(this.ids.length * 2)
        ids.set(this.ids)
        this.ids = ids
        const sizes = new Float64Array(this.sizes.length * 2)
        sizes.set(this.sizes)
        this.sizes = sizes
      }
    }
    this.ids[2 * slot] = BigInt.asIntN(64, id.dev)
    this.ids[2 * slot + 1] = BigInt.asIntN(64, id.ino)
    this.sizes[slot] = dir ? -1 : (check?.size ?? 0)
    this.hashes[slot] = dir ? '' : (check?.sha256 ?? '')
    return slot
  }

  slotOf(local: string): number | undefined {
    return this.slots.get(local)
  }

  local(slot: number): string {
    return this.locals[slot]!
  }

  isDir(slot: number): boolean {
    return this.sizes[slot] === -1
  }

  /** Whether `id` is the entry recorded in `slot` (same device and inode). */
  holds(slot: number, id: FileIdentity): boolean {
    return this.ids[2 * slot] === BigInt.asIntN(64, id.dev) && this.ids[2 * slot + 1] === BigInt.asIntN(64, id.ino)
  }

  /** A file's size and SHA-256 as recorded (a directory has none). */
  check(slot: number): FileCheck | undefined {
    if (this.isDir(slot)) return undefined
    return { size: this.sizes[slot]!, sha256: this.hashes[slot]! }
  }

  /** The slot of the directory holding slot's entry (undefined for the root). */
  parentSlot(slot: number): number | undefined {
    const parent = this.parentOf(slot)
    return parent === undefined ? undefined : this.slots.get(parent)
  }

  /** The directory holding slot's entry ('' for the root's own entries; undefined for the root). */
  parentOf(slot: number): string | undefined {
    const local = this.locals[slot]!
    if (local === '') return undefined
    const cut = local.lastIndexOf(sep)
    return cut < 0 ? '' : local.slice(0, cut)
  }
}

/** Entries made or checked between two turns of the event loop (each a few synchronous metadata calls). */
export const YIELD_EVERY = 256

/** Let timers, I/O and signal handlers run; then stop if `signal` was aborted meanwhile. */
export async function breather(signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve))
  signal?.throwIfAborted()
}

/** Bytes read synchronously between two turns of the event loop, at most (and a file's size more). */
export const SYNC_BYTES_BETWEEN_TURNS = 16 * 1024 * 1024

/**
 * A loop's pace: awaited before each step with the bytes it will read synchronously, it lets the event loop run
 * (breather) every YIELD_EVERY steps and once SYNC_BYTES_BETWEEN_TURNS were read since the last turn: 256 files of
 * a MiB read in a row would hold Ctrl-C, progress and a seeding server for seconds on a slow disk.
 */
export function paced(signal?: AbortSignal): (bytes: number) => Promise<void> {
  let steps = 0
  let bytes = 0
  return async (more) => {
    if (++steps % YIELD_EVERY === 0 || bytes >= SYNC_BYTES_BETWEEN_TURNS) {
      bytes = 0
      await breather(signal)
    }
    bytes += more
  }
}
