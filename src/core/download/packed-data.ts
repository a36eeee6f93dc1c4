import { constants } from 'node:fs'
import { type FileHandle, open } from 'node:fs/promises'
import { dirname } from 'node:path'
import { P2PError } from '../errors.js'
import { type FileIdentity, identityOf } from '../file-identity.js'
import { packedDataPath } from '../packed.js'
import { assertSameDirectory, realDirectories } from '../safe-fs.js'
import { privateCopy } from './final-name.js'

/**
 * Open a download's packed `data` in the store entry `entryDir`, sized
 * `packedSize`. Kept across runs (what a killed download wrote is resumed);
 * never through a symlink, neither `data` nor its directory (checked before
 * and after the open), never blocking on a FIFO someone put there, and never
 * shared: a `data` with other links (a finished file in downloads/) is
 * replaced by a private copy before anything is written into it. The caller
 * owns the handle; on an error nothing stays open.
 */
export async function openPackedData(
  entryDir: string,
  packedSize: number,
): Promise<{ handle: FileHandle; identity: FileIdentity }> {
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
    if (st.nlink > 1) handle = await privateCopy(handle, path)
    const opened = await handle.stat({ bigint: true })
    if (opened.size !== BigInt(packedSize)) await handle.truncate(packedSize)
    return { handle, identity: identityOf(opened) }
  } catch (err) {
    await handle.close().catch(() => undefined)
    throw err
  }
}
