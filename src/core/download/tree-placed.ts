import type { BigIntStats } from 'node:fs'
import { writeFileAtomic } from '../disk.js'
import { readRegularFile } from '../safe-fs.js'

/**
 * The store entry's record of the folder this item's downloads placed in the
 * downloads directory: its device, inode and birth time (inode numbers are
 * handed out again at once: a user's own folder made after the placed one was
 * removed had its inode at the first try, attacker pass; a filesystem that
 * keeps no birth time gets no filling in). A later download of the same
 * item fills in only that very directory (tree-fill.ts), never a user's own
 * folder of the name nor one another item's download placed there (a
 * stranger's second folder listing the first one's files and more). Written
 * once a folder is placed or found already there; a record missing, unreadable
 * or naming another directory only means no filling in ("NAME (1)").
 */

const MAX_RECORD_BYTES = 256
const DECIMAL = /^\d{1,20}$/

/** The directory a record names. */
export interface Placed {
  readonly dev: bigint
  readonly ino: bigint
  readonly birthNs: bigint
}

export async function readPlaced(path: string): Promise<Placed | undefined> {
  try {
    const raw: unknown = JSON.parse((await readRegularFile(path, { maxBytes: MAX_RECORD_BYTES })).toString('utf8'))
    if (typeof raw !== 'object' || raw === null) return undefined
    const { dev, ino, birthNs } = raw as Record<string, unknown>
    const fields = [dev, ino, birthNs]
    if (!fields.every((f): f is string => typeof f === 'string' && DECIMAL.test(f))) return undefined
    return { dev: BigInt(fields[0]!), ino: BigInt(fields[1]!), birthNs: BigInt(fields[2]!) }
  } catch {
    return undefined
  }
}

/** Whether `st` is the directory `placed` names (never when its filesystem keeps no birth time). */
export function isPlaced(st: BigIntStats, placed: Placed | undefined): boolean {
  return (
    placed !== undefined &&
    placed.birthNs !== 0n &&
    st.birthtimeNs === placed.birthNs &&
    st.ino === placed.ino &&
    st.dev === placed.dev
  )
}

/** Best effort: the download is placed whether or not this is written (without it, a later part goes to "NAME (1)"). */
export async function recordPlaced(path: string, st: BigIntStats): Promise<void> {
  const record = { dev: String(st.dev), ino: String(st.ino), birthNs: String(st.birthtimeNs) }
  await writeFileAtomic(path, JSON.stringify(record)).catch(() => undefined)
}
