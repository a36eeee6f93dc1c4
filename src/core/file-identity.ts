/**
 * A file's device and inode, exact. Node's ordinary stats give them as
 * doubles, which round above 2^53, and such inode numbers exist: overlayfs
 * with `xino` puts a layer's index in the top bits, where doubles are
 * 2,048 apart, so runs of neighbouring inodes there read as one number (a
 * followed link looked like a loop, and a file swapped for its neighbour
 * looked unchanged). Take identities from stats read with `{ bigint: true }`.
 */
export interface FileIdentity {
  readonly dev: bigint
  readonly ino: bigint
}

export function identityOf(st: { readonly dev: bigint; readonly ino: bigint }): FileIdentity {
  return { dev: st.dev, ino: st.ino }
}

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino
}

/** One string per identity (for sets and maps); a bigint stat is one. */
export function identityKey(id: FileIdentity): string {
  return `${id.dev}:${id.ino}`
}
