import { sep } from 'node:path'

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
  /** Per slot: device, inode, size (a file's; -1 for a directory). */
  private numbers = new Float64Array(3 * 256)

  get count(): number {
    return this.locals.length
  }

  /** Record an entry (a second record of one path replaces the first). */
  add(local: string, dir: boolean, dev: number, ino: number, check?: FileCheck): void {
    let slot = this.slots.get(local)
    if (slot === undefined) {
      slot = this.locals.length
      this.slots.set(local, slot)
      this.locals.push(local)
      if (3 * (slot + 1) > this.numbers.length) {
        const grown = new Float64Array(this.numbers.length * 2)
        grown.set(this.numbers)
        this.numbers = grown
      }
    }
    this.numbers[3 * slot] = dev
    this.numbers[3 * slot + 1] = ino
    this.numbers[3 * slot + 2] = dir ? -1 : (check?.size ?? 0)
    this.hashes[slot] = dir ? '' : (check?.sha256 ?? '')
  }

  slotOf(local: string): number | undefined {
    return this.slots.get(local)
  }

  local(slot: number): string {
    return this.locals[slot]!
  }

  isDir(slot: number): boolean {
    return this.numbers[3 * slot + 2] === -1
  }

  dev(slot: number): number {
    return this.numbers[3 * slot]!
  }

  ino(slot: number): number {
    return this.numbers[3 * slot + 1]!
  }

  /** A file's size and SHA-256 as recorded (a directory has none). */
  check(slot: number): FileCheck | undefined {
    if (this.isDir(slot)) return undefined
    return { size: this.numbers[3 * slot + 2]!, sha256: this.hashes[slot]! }
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
