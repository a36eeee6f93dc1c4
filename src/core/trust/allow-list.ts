import type { BigIntStats } from 'node:fs'
import { stat } from 'node:fs/promises'
import { hasCode, P2PError } from '../errors.js'
import { readRegularFile, unreadableReason } from '../safe-fs.js'
import { parseKeyText } from './key-text.js'
import { formatPeerId, parsePeerId } from './peer-id.js'

/**
 * Pinned peers (`--allow ID[,ID…]`, `--allow-file FILE`): the peer IDs a
 * server serves and a downloader takes chunks from. The file holds one peer
 * ID a line; `#` starts a comment; blank lines are fine. Any entry that is
 * not a valid peer ID is refused (E_USAGE, naming its line): a typo must not
 * silently shut a peer out. A long-running command follows the file
 * (allow-follow.ts), and the server ends the connections of peers no longer
 * listed.
 */

/** Announced peer IDs whose check is remembered (a flood of made-up ones only clears it). */
const MAX_ANNOUNCED_IDS = 1024

export class AllowList {
  private keys = new Set<string>()

  constructor(
    keys: Iterable<Buffer>,
    /** Where it was read from (followAllowList reads it again from there). */
    readonly source: { ids: readonly string[]; file: string | undefined } = { ids: [], file: undefined },
  ) {
    for (const key of keys) this.keys.add(key.toString('hex'))
  }

  /** The file's stamp (device, inode, size, times) taken just before it was read; undefined without a file. */
  fileStamp: string | undefined

  /** Takes `next`'s peers (the same source read again: followAllowList). */
  replaceWith(next: AllowList): void {
    this.keys = next.keys
    this.fileStamp = next.fileStamp
    this.announced.clear()
  }

  allows(key: Buffer): boolean {
    return this.keys.has(key.toString('hex'))
  }

  /** Peer IDs as announced, with whether each is listed (every claim of an announcement asks; bounded). */
  private readonly announced = new Map<string, boolean>()

  /** Whether a peer ID as announced (text, a bare claim) is listed: one that does not parse never is. */
  allowsPeerId(text: string): boolean {
    let listed = this.announced.get(text)
    if (listed === undefined) {
      const parsed = parseKeyText(text)
      listed = !('problem' in parsed) && this.allows(parsed.key)
      if (this.announced.size >= MAX_ANNOUNCED_IDS) this.announced.clear()
      this.announced.set(text, listed)
    }
    return listed
  }

  get size(): number {
    return this.keys.size
  }

  /** The peer IDs, for logs and --help. */
  peerIds(): string[] {
    return [...this.keys].map((hex) => formatPeerId(Buffer.from(hex, 'hex')))
  }
}

/** The keys of an allow-list file's text. */
export function parseAllowText(text: string, source = 'allow-list'): Buffer[] {
  const keys: Buffer[] = []
  for (const [i, line] of text.split('\n').entries()) {
    const entry = line.replace(/#.*/, '').trim()
    if (entry === '') continue
    try {
      keys.push(parsePeerId(entry, `${source} line ${i + 1}:`))
    } catch (err) {
      if (hasCode(err, 'E_USAGE')) throw err
      throw new P2PError('E_USAGE', `${source} line ${i + 1} is not a peer ID`)
    }
  }
  return keys
}

export const MAX_ALLOW_FILE_BYTES = 1024 * 1024

/** The allow-list from `--allow` values (comma-separated) and an `--allow-file`; undefined when neither is given. */
export async function loadAllowList(ids: readonly string[], file: string | undefined): Promise<AllowList | undefined> {
  if (ids.length === 0 && file === undefined) return undefined
  const keys = ids
    .flatMap((value) => value.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((id) => parsePeerId(id, '--allow'))
  let fileStamp: string | undefined
  if (file !== undefined) {
    let text: string
    try {
      // Before the read: a change made while it runs is then seen as a change (allow-follow.ts).
      fileStamp = stampOf(await stat(file, { bigint: true }))
      text = (await readRegularFile(file, { maxBytes: MAX_ALLOW_FILE_BYTES, followSymlinks: true })).toString('utf8')
    } catch (err) {
      throw new P2PError('E_USAGE', `cannot read the allow-list file ${file}: ${unreadableReason(err)}`, undefined, {
        cause: err,
      })
    }
    keys.push(...parseAllowText(text, file))
  }
  if (keys.length === 0)
    throw new P2PError(
      'E_USAGE',
      "the allow-list is empty: nobody could connect; give at least one peer ID (p2p id prints a peer's)",
    )
  const list = new AllowList(keys, { ids, file })
  list.fileStamp = fileStamp
  return list
}

/** What tells one state of a file from another, as its stat shows it (times to the nanosecond). */
export function stampOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`
}
