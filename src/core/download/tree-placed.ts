import { writeFileAtomic } from '../disk.js'
import type { FileIdentity } from '../file-identity.js'
import { readRegularFile } from '../safe-fs.js'

/**
 * The store entry's record of the folder this item's downloads placed in the
 * downloads directory: its device and inode. A later download of the same
 * item fills in only that very directory (tree-fill.ts), never a user's own
 * folder of the name nor one another item's download placed there (a
 * stranger's second folder listing the first one's files and more). Written
 * once a folder is placed or found already there; a record missing, unreadable
 * or naming another directory only means no filling in ("NAME (1)").
 */

const MAX_RECORD_BYTES = 256
const DECIMAL = /^\d{1,20}$/

export async function readPlaced(path: string): Promise<FileIdentity | undefined> {
  try {
    const raw: unknown = JSON.parse((await readRegularFile(path, { maxBytes: MAX_RECORD_BYTES })).toString('utf8'))
    if (typeof raw !== 'object' || raw === null) return undefined
    const { dev, ino } = raw as Record<string, unknown>
    if (typeof dev !== 'string' || typeof ino !== 'string' || !DECIMAL.test(dev) || !DECIMAL.test(ino)) return undefined
    return { dev: BigInt(dev), ino: BigInt(ino) }
  } catch {
    return undefined
  }
}

/** Best effort: the download is placed whether or not this is written (without it, a later part goes to "NAME (1)"). */
export async function recordPlaced(path: string, id: FileIdentity): Promise<void> {
  await writeFileAtomic(path, JSON.stringify({ dev: String(id.dev), ino: String(id.ino) })).catch(() => undefined)
}
