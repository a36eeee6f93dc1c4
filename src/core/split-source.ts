import { constants } from 'node:fs'
import { type FileHandle, open } from 'node:fs/promises'
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from './constants.js'
import { fromFsError, P2PError } from './errors.js'
import { identityKey } from './file-identity.js'
import { printable } from './printable.js'

/** What a file's split (split.ts) reads: a chunk size it accepts, and the file opened and checked. */

/** A chunk size p2p-split accepts (E_USAGE otherwise). */
export function checkChunkSize(chunkSize: number): number {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new P2PError(
      'E_USAGE',
      `chunk size ${chunkSize} is not a whole number of bytes from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE}`,
    )
  }
  return chunkSize
}

/** `path` opened to be read: a regular file, none of the command's private files, not a /proc or /sys file. */
export async function openRegularFile(path: string, privateFiles?: ReadonlyMap<string, string>): Promise<FileHandle> {
  let handle: FileHandle
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK) // a FIFO opens at once and is refused below
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new P2PError('E_NOT_FOUND', `no such file: ${path}`)
    throw fromFsError(err, `opening ${path}`)
  }
  const st = await handle.stat({ bigint: true })
  const what = privateFiles?.get(identityKey(st))
  if (!st.isFile() || what !== undefined) {
    await handle.close()
    if (what !== undefined) throw new P2PError('E_USAGE', `${printable(path)} is ${what}: it is never shared`)
    throw new P2PError(
      'E_USAGE',
      `${path} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}: give a regular file`,
    )
  }
  // A file of /proc or /sys says 0 bytes and holds more: shared as empty, it would be a wrong copy.
  if (st.size === 0n && (await handle.read(Buffer.alloc(1), 0, 1, 0)).bytesRead > 0) {
    await handle.close()
    throw new P2PError(
      'E_IO',
      `${path} says it holds 0 bytes but reads more (a /proc or /sys file?): copy it to a regular file and split that`,
    )
  }
  return handle
}
