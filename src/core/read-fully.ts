import { read, readSync } from 'node:fs'

/**
 * Reading exactly what is asked from an open file: read(2) may return fewer
 * bytes than asked (a signal, a filesystem's own limit), so every read of a
 * known length loops until it has them all or the file ends. The one place
 * that loop is written; each caller decides what a short file means (a
 * damaged chunk, a file that shrank, a record that is not ours).
 */

/**
 * `length` bytes at `position` of `fd` into `into` (from its start); returns
 * how many were read, fewer than `length` only when the file ended first.
 * While at most `syncBytes` remain, reads are synchronous: from the page
 * cache a small read costs less than a round trip through libuv's pool.
 */
export async function readFully(
  fd: number,
  into: Uint8Array,
  length: number,
  position: number,
  syncBytes = 0,
): Promise<number> {
  let got = 0
  while (got < length) {
    const left = length - got
    const bytesRead =
      left <= syncBytes
        ? readSync(fd, into, got, left, position + got)
        : await readAsync(fd, into, got, left, position + got)
    if (bytesRead === 0) break
    got += bytesRead
  }
  return got
}

/** readFully, every read synchronous (for reads that must not yield, or that are known to be cached). */
export function readFullySync(fd: number, into: Uint8Array, length: number, position: number): number {
  let got = 0
  while (got < length) {
    const bytesRead = readSync(fd, into, got, length - got, position + got)
    if (bytesRead === 0) break
    got += bytesRead
  }
  return got
}

function readAsync(fd: number, into: Uint8Array, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    read(fd, into, at, length, position, (err, n) => (err ? reject(err) : resolve(n))),
  )
}
