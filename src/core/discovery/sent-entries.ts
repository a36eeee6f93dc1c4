import type { LocalFile } from './announcement-encode.js'

/**
 * What the announcer last told the LAN of each store entry, as the entry's
 * encoded text (announcement-encode.ts: one, or one per slice of a large
 * have-set). A burst for a change carries only the text that differs from
 * what was sent before: a receiver keeps each claim until it expires, and
 * the bursts at start and every interval carry everything, so leaving out
 * what it already heard loses nothing. A store of many items with one
 * download under way sends the datagram or two that changed, not the whole
 * store (docs/benchmarks.md).
 *
 * An entry's text is kept with what it encodes (name, size, have-set) and
 * reused while that stays the same, so a burst encodes only what changed.
 * Holds one encoding per entry the last burst listed: an entry that left
 * the store (or was withheld) and comes back is sent again.
 */
export class SentEntries {
  private sent = new Map<string, Encoded>()
  private listedBytes = 0

  /** Bytes of every entry's text the last burst listed, with a separator between each two: the whole store's. */
  get storeBytes(): number {
    return this.listedBytes
  }

  /** Entries the last burst listed. */
  get size(): number {
    return this.sent.size
  }

  /**
   * Of `files` (every entry the store announces now), the text a burst
   * sends, a group per file: all of it when `whole`, else only what differs
   * from the last burst's (a file with nothing new is left out).
   * `encode` gives a file's text.
   */
  pick(files: readonly LocalFile[], encode: (file: LocalFile) => string[], whole: boolean): string[][] {
    const now = new Map<string, Encoded>()
    const picked: string[][] = []
    let bytes = 0
    for (const file of files) {
      const before = this.sent.get(file.id)
      const encoded = before !== undefined && sameAs(before, file) ? before : encodedAs(file, encode(file))
      now.set(file.id, encoded)
      bytes += encoded.bytes
      const texts = whole || before === undefined ? encoded.texts : changedTexts(before.texts, encoded.texts)
      if (texts.length > 0) picked.push(texts)
    }
    this.sent = now
    this.listedBytes = Math.max(0, bytes - 1)
    return picked
  }
}

interface Encoded {
  readonly name: string
  readonly size: number
  readonly files: number | undefined
  /** A copy of the have-set's bytes, or undefined when it was complete. */
  readonly have: Buffer | undefined
  readonly length: number
  readonly texts: string[]
  /** The texts' bytes, a separator after each. */
  readonly bytes: number
}

function encodedAs(file: LocalFile, texts: string[]): Encoded {
  const complete = file.have.isComplete()
  return {
    name: file.name,
    size: file.size,
    files: file.files,
    have: complete ? undefined : Buffer.from(file.have.bytes),
    length: file.have.length,
    texts,
    bytes: texts.reduce((sum, text) => sum + Buffer.byteLength(text) + 1, 0),
  }
}

function sameAs(encoded: Encoded, file: LocalFile): boolean {
  if (encoded.name !== file.name || encoded.size !== file.size || encoded.files !== file.files) return false
  if (encoded.length !== file.have.length) return false
  return file.have.isComplete() ? encoded.have === undefined : encoded.have?.equals(file.have.bytes) === true
}

/** The texts of `now` not in `before` at the same place (slices keep their places while the file's slicing does). */
function changedTexts(before: readonly string[], now: readonly string[]): string[] {
  if (before.length !== now.length) return [...now]
  return now.filter((text, i) => text !== before[i])
}
