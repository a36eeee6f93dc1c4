import { closeSync, fstatSync, openSync, statSync } from 'node:fs'
import { sep } from 'node:path'
import { OPEN_DIR, throughFd } from '../dir-fd.js'
import { P2PError } from '../errors.js'
import { type FileIdentity, identityOf, sameFile } from '../file-identity.js'
import type { MadeTable } from './made-table.js'

/**
 * Descriptors of a temporary tree's directories (temp-tree.ts), through
 * which its entries are made on Linux: `/proc/self/fd/<fd>/<name>` resolves
 * `<fd>` to the very directory the descriptor holds, wherever it is now,
 * and only `<name>` by its name. That is `openat` (which Node lacks): no
 * directory above an entry is ever looked up by path while it is made, so
 * none swapped for a link can be followed, not even in the instant between
 * a check and a create, and no chain of `lstat`s is needed before each
 * create (a folder of 10,000 files made 30,000 of them).
 *
 * The root's descriptor is held until `close`; those of other directories
 * are kept for the most recently used LIMIT of them, and one evicted is
 * opened again through its parent's, checked to be the directory the tree
 * made there. Each descriptor has one owner, this object, and is closed
 * once: on eviction or by `close`, after which nothing resolves (a closed
 * number may already be another file's).
 */

/** The calls anchors make (injected in tests, to count opens and closes). */
export interface AnchorCalls {
  /** A directory opened without following a link at its last component: its descriptor. */
  openDir(path: string): number
  identity(fd: number): FileIdentity
  /** What `/proc/self/fd/<fd>` resolves to. */
  resolved(fd: number): FileIdentity
  close(fd: number): void
}

export const realAnchorCalls: AnchorCalls = {
  openDir: (path) => openSync(path, OPEN_DIR),
  identity: (fd) => identityOf(fstatSync(fd, { bigint: true })),
  resolved: (fd) => identityOf(statSync(throughFd(fd), { bigint: true })),
  close: (fd) => closeSync(fd),
}

/** Directory descriptors kept open besides the root's. */
export const ANCHOR_LIMIT = 32

export class TreeAnchors {
  /** slot → descriptor, least recently used first (a Map keeps insertion order). */
  private readonly fds = new Map<number, number>()
  private closed = false

  private constructor(
    private readonly made: Pick<MadeTable, 'parentSlot' | 'local' | 'holds'>,
    private readonly rootFd: number,
    private readonly calls: AnchorCalls,
    private readonly limit: number,
  ) {}

  /**
   * Anchors for a tree whose root is open at `rootFd` (given to them: they
   * close it), when `/proc/self/fd` resolves it to that directory; else
   * undefined, and the caller keeps the descriptor.
   */
  static tryOpen(
    made: Pick<MadeTable, 'parentSlot' | 'local' | 'holds'>,
    rootFd: number,
    calls: AnchorCalls = realAnchorCalls,
    limit = ANCHOR_LIMIT,
  ): TreeAnchors | undefined {
    if (limit < 1) throw new P2PError('E_INTERNAL', 'anchors need room for one descriptor besides the root')
    if (process.platform !== 'linux') return undefined
    try {
      if (!sameFile(calls.resolved(rootFd), calls.identity(rootFd))) return undefined
    } catch {
      return undefined
    }
    return new TreeAnchors(made, rootFd, calls, limit)
  }

  /** A path naming `name` in the directory of `slot`, resolved through that directory's descriptor. */
  pathIn(slot: number, name: string): string {
    return throughFd(this.fdOf(slot), name)
  }

  /**
   * The directory just made at `name` in the one of `parent`, opened (never
   * through a link) and kept as the anchor of the slot `register` gives it
   * (the tree records it there by the identity it is given).
   */
  adopt(parent: number, name: string, register: (id: FileIdentity) => number): void {
    const fd = this.calls.openDir(this.pathIn(parent, name))
    let slot: number
    try {
      slot = register(this.calls.identity(fd))
    } catch (err) {
      this.calls.close(fd)
      throw err
    }
    this.keep(slot, fd)
  }

  /** Descriptors open now, the root's included (for tests). */
  get openCount(): number {
    return this.closed ? 0 : this.fds.size + 1
  }

  /** Close every descriptor, once; nothing resolves afterwards. */
  close(): void {
    if (this.closed) return
    this.closed = true
    // Every one closed even if one close fails (the first failure is thrown after).
    let failure: { err: unknown } | undefined
    for (const fd of [...this.fds.values(), this.rootFd]) {
      try {
        this.calls.close(fd)
      } catch (err) {
        failure ??= { err }
      }
    }
    this.fds.clear()
    if (failure !== undefined) throw failure.err
  }

  private fdOf(slot: number): number {
    if (this.closed) throw new P2PError('E_INTERNAL', 'the temporary tree is closed')
    if (slot === 0) return this.rootFd
    const fd = this.fds.get(slot)
    if (fd !== undefined) {
      this.fds.delete(slot)
      this.fds.set(slot, fd)
      return fd
    }
    const parent = this.made.parentSlot(slot)
    if (parent === undefined) throw new P2PError('E_INTERNAL', `no parent for directory slot ${slot}`)
    const local = this.made.local(slot)
    const opened = this.calls.openDir(this.pathIn(parent, local.slice(local.lastIndexOf(sep) + 1)))
    try {
      if (!this.made.holds(slot, this.calls.identity(opened))) throw new AnchorMismatch(slot)
    } catch (err) {
      this.calls.close(opened)
      throw err
    }
    this.keep(slot, opened)
    return opened
  }

  private keep(slot: number, fd: number): void {
    const old = this.fds.get(slot)
    this.fds.delete(slot)
    if (old !== undefined) this.calls.close(old)
    this.fds.set(slot, fd)
    while (this.fds.size > this.limit) {
      const [first, evicted] = this.fds.entries().next().value as [number, number]
      this.fds.delete(first)
      this.calls.close(evicted)
    }
  }
}

/** A directory opened again through its parent is not the one the tree made there. */
export class AnchorMismatch extends Error {
  constructor(readonly slot: number) {
    super(`directory slot ${slot} is not the one made`)
  }
}
