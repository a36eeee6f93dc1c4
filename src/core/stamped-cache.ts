import { lstatSync } from 'node:fs'
import { BoundedMap } from './bounded-map.js'
import { stampOf } from './disk.js'

/**
 * What was read from a small file, read again only when the file's stamp
 * (inode, size, mtime, ctime) changes: a server asks for every chunk request
 * it answers from a packed `data`. The stamp comes from a synchronous lstat,
 * which takes microseconds, less than a round trip through libuv's pool; a
 * path that is not a regular file (absent, a link, a FIFO) holds nothing.
 */
export class StampedFileCache<T> {
  private readonly cache: BoundedMap<string, { stamp: string; value: T | undefined }>

  constructor(maxEntries = 10_000) {
    this.cache = new BoundedMap(maxEntries)
  }

  /** What `read` makes of the file at `path` as it is now; `read` runs only when the file changed. */
  async get(path: string, read: () => Promise<T | undefined>): Promise<T | undefined> {
    let stamp: string
    try {
      const st = lstatSync(path, { bigint: true })
      if (!st.isFile()) throw new Error('not a regular file')
      stamp = stampOf(st)
    } catch {
      this.cache.delete(path)
      return undefined
    }
    const cached = this.cache.get(path)
    if (cached?.stamp === stamp) return cached.value
    const value = await read()
    this.cache.set(path, { stamp, value })
    return value
  }
}
