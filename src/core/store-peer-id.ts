import { randomBytes } from 'node:crypto'
import { unlink } from 'node:fs/promises'
import { publishOnce } from './disk.js'
import { fromFsError, hasCode, P2PError } from './errors.js'
import type { Logger } from './log.js'
import { isAbsent, readRegularFile } from './safe-fs.js'

/** A store's peer id: 16 random bytes as lowercase hex. */
const PEER_ID = /^[0-9a-f]{32}$/

/**
 * The peer id kept in `path` (a store's `.p2p/peer-id`), made if there is
 * none. A new one is published only if none is there (disk.ts, publishOnce),
 * so commands starting together on a fresh store (p2p-announce beside
 * p2p-download) all get the same id. A file there that is not a peer id (a
 * FIFO, a link, other text) is removed and replaced, with a warning; two
 * commands repairing one at the same moment may each return their own, but
 * what is on disk is one id, and its users read it again per use (the
 * announcer per burst), so they agree from their next read on.
 */
export async function loadStorePeerId(path: string, storeRoot: string, log: Logger): Promise<string> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await readPeerId(path, log)
    if (existing !== undefined) return existing
    const id = randomBytes(16).toString('hex')
    try {
      if (await publishOnce(path, id, { within: storeRoot })) return id
    } catch (err) {
      throw fromFsError(err, `writing ${path}`)
    }
    // Another command published one meanwhile: read it.
  }
  throw new P2PError('E_IO', `${path} holds no peer id and cannot be replaced: remove it`)
}

/** The id in `path`; undefined when absent or when what is there is no peer id (then removed, and warned of). */
async function readPeerId(path: string, log: Logger): Promise<string | undefined> {
  let text: string
  try {
    text = (await readRegularFile(path, { maxBytes: 1024 })).toString('utf8').trim()
  } catch (err) {
    if (isAbsent(err)) return undefined
    // Not a regular file (a FIFO, a link) or too large: not a peer id. Anything else (EMFILE, EIO) may
    // pass, and the id there must not be lost to it.
    if (!hasCode(err, 'E_IO') && !hasCode(err, 'E_TOO_LARGE')) throw fromFsError(err, `reading ${path}`)
    text = ''
  }
  if (PEER_ID.test(text)) return text
  log.warn({ path }, 'the peer id file holds no peer id; making a new one')
  await unlink(path).catch(() => undefined)
  return undefined
}
