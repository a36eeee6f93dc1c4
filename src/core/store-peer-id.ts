import { randomBytes } from 'node:crypto'
import { unlink } from 'node:fs/promises'
import { publishOnce } from './disk.js'
import { fromFsError, P2PError } from './errors.js'
import type { Logger } from './log.js'
import { isAbsent, readRegularFile } from './safe-fs.js'

/** A store's peer id: 16 random bytes as lowercase hex. */
const PEER_ID = /^[0-9a-f]{32}$/

/**
 * The peer id kept in `path` (a store's `.p2p/peer-id`), made if there is
 * none. A new one is published only if none is there (disk.ts, publishOnce),
 * so commands starting together on a fresh store (p2p-announce beside
 * p2p-download) all get the same id. A file there that is not a peer id (a
 * FIFO, a link, other text) is removed and replaced, with a warning.
 */
export async function loadStorePeerId(path: string, storeRoot: string, log: Logger): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const existing = await readPeerId(path, log)
    if (existing !== undefined) return existing
    const id = randomBytes(16).toString('hex')
    try {
      if (await publishOnce(path, id, { within: storeRoot })) return id
    } catch (err) {
      throw fromFsError(err, `writing ${path}`)
    }
    // Another command published one meanwhile: read it. Twice over means what is there cannot be removed.
    if (attempt > 0) throw new P2PError('E_IO', `${path} holds no peer id and cannot be replaced: remove it`)
  }
}

async function readPeerId(path: string, log: Logger): Promise<string | undefined> {
  let text = ''
  try {
    text = (await readRegularFile(path, { maxBytes: 1024 })).toString('utf8').trim()
  } catch (err) {
    if (isAbsent(err)) return undefined
  }
  if (PEER_ID.test(text)) return text
  log.warn({ path }, 'the peer id file holds no peer id; making a new one')
  await unlink(path).catch(() => undefined)
  return undefined
}
