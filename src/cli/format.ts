import bytes from 'bytes'
import { mixesLookAlikeScripts } from '../index.js'

/** Human sizes and rates, binary units (1 MiB = 1,048,576 bytes). */
export function formatBytes(n: number): string {
  return (bytes.format(n, { decimalPlaces: 1, unitSeparator: ' ' }) ?? `${n} B`).replace(/([KMGTP])B$/, '$1iB')
}

export function formatRate(bytesDone: number, seconds: number): string {
  return seconds > 0 ? `${(bytesDone / seconds / 1e6).toFixed(1)} MB/s` : '– MB/s'
}

export function formatSeconds(seconds: number): string {
  return seconds < 10 ? `${seconds.toFixed(2)} s` : `${seconds.toFixed(1)} s`
}

export { counted, filesAndFolders, someOf } from './common.js'

export function shortId(id: string): string {
  return id.slice(0, 12)
}

/**
 * `value` as one line of JSON, exactly `JSON.stringify(value)` and a
 * newline, handed to `write` in pieces: the array at key `long` (a folder's
 * file receipts) goes a batch of items at a time, so the line is never one
 * string. A 10,000-file folder's receipt is ~1.2 MB: as one string, its
 * copies were ~3–4 MB of a folder download's peak RSS.
 */
export function writeJsonLine(
  write: (piece: string) => void,
  value: Record<string, unknown>,
  long: string,
  batch = 256,
): void {
  const items = value[long]
  if (!Array.isArray(items)) {
    write(`${JSON.stringify(value)}\n`)
    return
  }
  const keys = Object.keys(value)
  const at = keys.indexOf(long)
  const part = (from: number, to?: number): string =>
    JSON.stringify(Object.fromEntries(keys.slice(from, to).map((k) => [k, value[k]])))
  const head = part(0, at).slice(0, -1) // "{…" without its "}"
  const tail = part(at + 1).slice(1) // "…}" without its "{"
  write(`${head}${head === '{' ? '' : ','}${JSON.stringify(long)}:[`)
  for (let i = 0; i < items.length; i += batch) {
    const pieces = items.slice(i, i + batch).map((item: unknown) => JSON.stringify(item) ?? 'null')
    write(`${i === 0 ? '' : ','}${pieces.join(',')}`)
  }
  write(`]${tail === '}' ? '' : ','}${tail}\n`)
}

/** What a name that mixes look-alike scripts in a word is marked with (it prints as another name would). */
export const LOOK_ALIKE = 'letters of two scripts in one word: a look-alike name?'

/** The mark after a name's peer count in a listing: none, or the look-alike warning. */
export function lookAlike(name: string): string {
  return mixesLookAlikeScripts(name) ? `; ${LOOK_ALIKE}` : ''
}

/** `text` as one word of a POSIX shell command line: as it is when that is safe, else in single quotes. */
export function shellWord(text: string): string {
  return /^[\w.,@%+=:/-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`
}
