import { type Stats, unwatchFile, watchFile } from 'node:fs'
import { hasCode, P2PError } from '../errors.js'
import type { Logger } from '../log.js'
import { readRegularFile } from '../safe-fs.js'
import { parseKeyText } from './key-text.js'
import { formatPeerId, parsePeerId } from './peer-id.js'

/**
 * Pinned peers (`--allow ID[,ID…]`, `--allow-file FILE`): the peer IDs a
 * server serves and a downloader takes chunks from. The file holds one peer
 * ID a line; `#` starts a comment; blank lines are fine. Any entry that is
 * not a valid peer ID is refused (E_USAGE, naming its line): a typo must not
 * silently shut a peer out. A long-running command follows the file
 * (`follow`): an edit takes effect within ALLOW_FILE_POLL_MS, and the
 * server ends the connections of peers no longer listed.
 */

/** How often a followed allow-list file is looked at (its stat: an editor's rename is seen too). */
export const ALLOW_FILE_POLL_MS = 2000

/** Announced peer IDs whose check is remembered (a flood of made-up ones only clears it). */
const MAX_ANNOUNCED_IDS = 1024

export class AllowList {
  private keys = new Set<string>()

  constructor(
    keys: Iterable<Buffer>,
    /** Where it was read from (`follow` reads it again from there). */
    private readonly source: { ids: readonly string[]; file: string | undefined } = { ids: [], file: undefined },
  ) {
    for (const key of keys) this.keys.add(key.toString('hex'))
  }

  /**
   * Reads the file again whenever its stat changes, until the returned function is called; `onChange` after each
   * new list is in use. A file that cannot be read, or that lists nobody or a bad entry, keeps the list in use (said
   * once a change, as a warning): an editor's half-written file must not shut everyone out, nor let anyone in.
   */
  follow(o: { log: Logger; onChange: () => void; intervalMs?: number }): () => void {
    const { file } = this.source
    if (file === undefined) return () => undefined
    let reading = Promise.resolve()
    const changed = (now: Stats, before: Stats): void => {
      if (now.mtimeMs === before.mtimeMs && now.ctimeMs === before.ctimeMs && now.ino === before.ino) return
      reading = reading.then(async () => {
        try {
          const next = (await loadAllowList(this.source.ids, file))!
          this.keys = next.keys
          this.announced.clear()
          o.log.info({ file, peers: this.keys.size }, 'allow-list read again')
          o.onChange()
        } catch (err) {
          const message = hasCode(err) ? err.message : (err as Error).message
          o.log.warn(
            { file, err: message },
            'the allow-list file was changed but cannot be used: the list in use is kept',
          )
        }
      })
    }
    watchFile(file, { interval: o.intervalMs ?? ALLOW_FILE_POLL_MS, persistent: false }, changed)
    return () => unwatchFile(file, changed)
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
  if (file !== undefined) {
    let text: string
    try {
      text = (await readRegularFile(file, { maxBytes: MAX_ALLOW_FILE_BYTES, followSymlinks: true })).toString('utf8')
    } catch (err) {
      throw new P2PError(
        'E_USAGE',
        `cannot read the allow-list file ${file}: ${hasCode(err) ? err.message : (err as Error).message}`,
        undefined,
        { cause: err },
      )
    }
    keys.push(...parseAllowText(text, file))
  }
  if (keys.length === 0)
    throw new P2PError(
      'E_USAGE',
      "the allow-list is empty: nobody could connect; give at least one peer ID (p2p id prints a peer's)",
    )
  return new AllowList(keys, { ids, file })
}
