import { lstatSync } from 'node:fs'
import { BoundedMap } from '../bounded-map.js'
import { stampOf } from '../disk.js'
import type { ChunkStore } from '../store.js'
import { verifiedRecordPath } from '../verified-record.js'

/**
 * The chunks a server knows good without hashing them, by the stamp of the
 * file that holds them (inode, size, mtime, ctime: disk.ts `stampOf`): those
 * it hashed itself, and those split or a finished download recorded
 * (store.recordVerified). Any write to a file changes its stamp, with two
 * exceptions this module guards against: filesystems take their times from a
 * clock that ticks coarsely (a jiffy, 1–10 ms on Linux without multigrain
 * timestamps), in steps of their own granularity (nanoseconds on ext4, xfs,
 * btrfs, tmpfs; 1 or 2 s on ext3's small inodes, FAT, some network
 * filesystems), so a write in the same tick as the change that gave a stamp
 * leaves every part of it as it was. And one write(2) sets the times once,
 * before it copies its bytes, which takes as long as the bytes are many (a
 * single pwrite of 64 MiB took 137–213 ms here, of 1 GiB 3.3 s), so chunks
 * near its end may be read, found good and remembered before the copy
 * reaches them (docs/security.md has the attack). A stamp is
 * therefore remembered only when the bytes hashed under it were read at least
 * a tick and a step after its ctime (git's "racily clean" entries are the
 * same problem), and after as long as the longest single write the file
 * could take at a slow disk's pace (at most 2 GiB: Linux's cap on one write):
 * then any later write falls in a later tick, and its ctime differs.
 */

const MAX_VERIFIED_ENTRIES = 1_000_000
const MAX_RECORDS = 10_000
/** How long after its ctime a chunk must have been read for its stamp to be remembered: times of nanoseconds. */
const SETTLED_NS = 20_000_000n
/** The same for a ctime in whole seconds (a filesystem of 1 or 2 s steps, as far as one can tell). */
const SETTLED_COARSE_NS = 3_000_000_000n
const NS_PER_SECOND = 1_000_000_000n
/** The slowest pace a single write is assumed to copy at (dirty pages throttled to a slow disk's). */
const SLOWEST_WRITE_BYTES_PER_S = 64n * 1024n * 1024n
/** Linux copies at most this much in one write(2) (MAX_RW_COUNT). */
const MAX_ONE_WRITE_BYTES = 0x7ffff000n

/**
 * Whether a file of `size` bytes whose ctime is `ctimeNs`, stat'ed after `readAtMs` (Date.now()), was read long
 * enough after its last change for its stamp to stand for the bytes read: any later write changes the stamp. Else
 * a write may still be copying its bytes (its times set as it began), or one may come in the same tick, unseen.
 */
export function settled(ctimeNs: bigint, size: bigint, readAtMs: number): boolean {
  const tick = ctimeNs % NS_PER_SECOND === 0n ? SETTLED_COARSE_NS : SETTLED_NS
  const longestWrite =
    ((size < MAX_ONE_WRITE_BYTES ? size : MAX_ONE_WRITE_BYTES) * NS_PER_SECOND) / SLOWEST_WRITE_BYTES_PER_S
  return ctimeNs + tick + longestWrite < BigInt(readAtMs) * 1_000_000n
}

export class CheckedStamps {
  private readonly verified = new BoundedMap<string, string>(MAX_VERIFIED_ENTRIES)
  /** Stamps split or a download recorded, by id, with the record file's own stamp. */
  private readonly records = new BoundedMap<string, { stamp: string; stamps: Promise<Array<string | null>> }>(
    MAX_RECORDS,
  )

  constructor(private readonly store: ChunkStore) {}

  /** Whether chunk `index` of `id` (remembered as `key`) was found good in its file at `stamp`. */
  async has(id: string, key: string, index: number, stamp: string): Promise<boolean> {
    return this.verified.get(key) === stamp || (await this.recorded(id))[index] === stamp
  }

  /**
   * Its bytes, read from its file at `stamp` (the same before the read and after), hashed right; `readAtMs`
   * (Date.now(), the clock filesystems take their times from) was taken before the stat that gave the stamp.
   * Remembered only when that was long enough after the file's ctime (above).
   */
  checked(key: string, stamp: string, file: { ctimeNs: bigint; size: bigint }, readAtMs: number): void {
    if (settled(file.ctimeNs, file.size, readAtMs)) this.verified.set(key, stamp)
  }

  forget(key: string): void {
    this.verified.delete(key)
  }

  /**
   * The stamps recorded for `id`, read again whenever the record file changes
   * (a download that finishes, a new split). Asked only for a chunk not yet
   * verified in this process, so the lstat is rare.
   */
  private recorded(id: string): Promise<Array<string | null>> {
    let stamp = ''
    try {
      const st = lstatSync(verifiedRecordPath(this.store.root, id), { bigint: true })
      if (st.isFile()) stamp = stampOf(st)
    } catch {
      // no record: every chunk is hashed before its first serve
    }
    const cached = this.records.get(id)
    if (cached?.stamp === stamp) return cached.stamps
    const stamps = stamp === '' ? Promise.resolve([]) : this.store.verifiedStamps(id)
    this.records.set(id, { stamp, stamps })
    return stamps
  }
}
