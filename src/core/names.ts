import { P2PError } from './errors.js'
import { MAX_NAME_BYTES, STORE_PRIVATE_DIR } from './constants.js'

/**
 * A file name is exactly one path component. Names come from users and from
 * peers; both go through here before any filesystem call. Checked, in order:
 * a string, well-formed Unicode (no lone surrogates, which have no UTF-8 form),
 * NFC-normalised, non-empty, at most 255 UTF-8 bytes, no `/`, `\`, NUL or
 * control characters (C0, DEL, C1), not `.` or `..`, and not the store's private
 * directory. `%2e%2e` is a plain literal name: we never URL-decode.
 */

// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f/\\]/

export function nameProblem(input: unknown): string | undefined {
  if (typeof input !== 'string') return 'a name must be a string'
  if (!input.isWellFormed()) return 'a name must be valid Unicode'
  const name = input.normalize('NFC')
  if (name.length === 0) return 'a name must not be empty'
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) return `a name must be at most ${MAX_NAME_BYTES} bytes in UTF-8`
  if (FORBIDDEN.test(name)) return 'a name must not contain "/", "\\", NUL or control characters'
  if (name === '.' || name === '..') return 'a name must not be "." or ".."'
  if (name === STORE_PRIVATE_DIR || name.startsWith(`${STORE_PRIVATE_DIR}`)) return `a name must not start with "${STORE_PRIVATE_DIR}"`
  return undefined
}

/** Returns the NFC form of a valid name, or throws E_BAD_NAME. */
export function validateName(input: unknown): string {
  const problem = nameProblem(input)
  if (problem !== undefined) {
    const shown = typeof input === 'string' ? JSON.stringify(input.slice(0, 80)) : typeof input
    throw new P2PError('E_BAD_NAME', `invalid file name ${shown}: ${problem}`)
  }
  return (input as string).normalize('NFC')
}

export function isValidName(input: unknown): input is string {
  return nameProblem(input) === undefined && (input as string) === (input as string).normalize('NFC')
}
