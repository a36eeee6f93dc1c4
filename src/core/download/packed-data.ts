import { constants } from 'node:fs'
import { type FileHandle, open } from 'node:fs/promises'
import { dirname } from 'node:path'
import { P2PError } from '../errors.js'
import { type FileIdentity, identityOf } from '../file-identity.js'
import { packedDataPath } from '../packed.js'
import { assertSameDirectory, realDirectories } from '../safe-fs.js'
import { privateCopy } from './final-name.js'

/**
 * `data` is also a finished file (another link) and a chunk in it failed its check: this run read it without
 * a private copy, so it ends here, and the download runs again with one (downloader.ts).
 */
export class SharedDataChanged extends Error {
  constructor(readonly index: number) {
    super(`chunk ${index} of a finished file no longer matches its hash`)
  }
}

/**
 * Open a download's packed `data` in the store entry `entryDir`, sized
 * `packedSize`. Kept across runs (what a killed download wrote is resumed);
 * never through a symlink, neither `data` nor its directory (checked before
 * and after the open), never blocking on a FIFO someone put there, and never
 * written while shared: a `data` with other links (a finished file in
 * downloads/, which the user may have edited) is replaced by a private copy
 * first, unless `keepShared` (the caller holds every chunk, so nothing is to
 * be written, only read and checked: a re-run of a finished download copied
 * the whole file, doubling its room on the disk or failing `E_NO_SPACE` with
 * nothing to fetch) and it is already the right size. The caller owns the
 * handle; on an error nothing stays open.
 */
export async function openPackedData(
  entryDir: string,
  packedSize: number,
  keepShared = false,
): Promise<{ handle: FileHandle; identity: FileIdentity; shared: boolean }> {
  const path = packedDataPath(entryDir)
  const entry = await realDirectories(dirname(entryDir), entryDir)
  let handle = await open(
    path,
    constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK,
    0o644,
  )
  try {
    const st = await handle.stat()
    if (!st.isFile())
      throw new P2PError('E_IO', `${path} is not a regular file: something other than p2pshare put it there; remove it`)
    await assertSameDirectory(entryDir, entry)
    const shared = st.nlink > 1 && keepShared && st.size === packedSize
    if (st.nlink > 1 && !shared) handle = await privateCopy(handle, path)
    const opened = await handle.stat({ bigint: true })
    if (opened.size !== BigInt(packedSize)) await handle.truncate(packedSize)
    return { handle, identity: identityOf(opened), shared }
  } catch (err) {
    await handle.close().catch(() => undefined)
    throw err
  }
}
