import { constants, fstatSync, statSync } from 'node:fs'
import { identityOf, sameFile } from './file-identity.js'

/**
 * Directories held open and reached through their descriptors: a
 * download's temporary tree (download/tree-anchors.ts), a folder filled in
 * (download/tree-fill.ts) and a split's walk (walk-dir.ts). On Linux `/proc/self/fd/<fd>/<name>` resolves `<fd>` to the
 * very directory it holds, wherever that is now, and only `<name>` by its
 * name: what `openat` does, which Node lacks.
 */

/** A directory opened to be held: read-only, never through a link at its own name. */
export const OPEN_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW

/** `name` in the directory open at `fd` (the directory itself without a name), reached through the descriptor. */
export function throughFd(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`
}

/** Whether `throughFd(fd)` leads to the directory open at `fd` here (Linux, /proc mounted). */
export function resolvesThroughFd(fd: number): boolean {
  if (process.platform !== 'linux') return false
  try {
    return sameFile(identityOf(statSync(throughFd(fd), { bigint: true })), identityOf(fstatSync(fd, { bigint: true })))
  } catch {
    return false
  }
}
