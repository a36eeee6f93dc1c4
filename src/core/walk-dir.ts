import { closeSync, constants, fstatSync, openSync } from 'node:fs'
import { OPEN_DIR, resolvesThroughFd, throughFd } from './dir-fd.js'
import { identityKey } from './file-identity.js'

/**
 * A directory a folder walk lists (tree-walk.ts), held open while its
 * entries are looked at, and where they are looked up: on Linux through
 * `/proc/self/fd/<fd>`, so they are that very directory's whatever its path
 * leads to meanwhile (a directory above it swapped for a link would lead a
 * walk by path out of the folder); elsewhere by its path, which the walk
 * checks again once they have been looked at. The caller closes `fd`.
 */
export interface HeldDir {
  fd: number
  /** Where its entries are: `<base>/<name>`. */
  base: string
}

/**
 * The directory at `disk` open, never through a link at its own name, if it
 * is the one of identity `id` (its parent's listing found it so): 'changed'
 * if something else is there now, 'vanished' if nothing is.
 * `walk.throughProc` is decided at the first directory held.
 */
export function holdDir(
  disk: string,
  id: string,
  walk: { throughProc: boolean | undefined },
): HeldDir | 'changed' | 'vanished' | { unreadable: unknown } {
  let fd: number
  try {
    fd = openSync(disk, OPEN_DIR | constants.O_NONBLOCK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? ''
    if (code === 'ENOENT') return 'vanished'
    if (code === 'ELOOP' || code === 'ENOTDIR') return 'changed'
    return { unreadable: err }
  }
  try {
    if (identityKey(fstatSync(fd, { bigint: true })) !== id) {
      closeSync(fd)
      return 'changed'
    }
    walk.throughProc ??= resolvesThroughFd(fd)
    return { fd, base: walk.throughProc ? throughFd(fd) : disk }
  } catch (err) {
    closeSync(fd)
    throw err
  }
}
