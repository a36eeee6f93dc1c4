import { MAX_NAME_BYTES, STORE_PRIVATE_DIR } from './constants.js'
import { P2PError } from './errors.js'
import { printable } from './printable.js'

/**
 * A file name is exactly one path component. Names come from users and from
 * peers (announcements, manifests, the dictionary file); all go through here
 * before any filesystem call. Refused, because they are dangerous on some
 * common system or screen: anything but well-formed Unicode (lone surrogates
 * have no UTF-8 form); empty or over 255 UTF-8 bytes (after NFC); `/`, `\`;
 * NUL and every control character (C0, DEL, C1), and the line and paragraph
 * separators; bidi controls (U+061C, U+200E/F, U+202A–202E, U+2066–2069),
 * which make `gnp.exe` look like `exe.png`; names made only of spaces and
 * invisible characters; `.` and `..`; and any name starting with `.p2p` in
 * any letter case (the store's private directory, on a case-insensitive
 * volume `.P2P` is the same directory). `%2e%2e` is a plain literal name: we
 * never URL-decode.
 *
 * Accepted but unportable — harmless here, refused or special on Windows
 * volumes (NTFS, exFAT, SMB shares): reserved device names (`CON`, `nul.txt`),
 * `< > : " | ? *` (`a:b` is an NTFS stream), a trailing dot or space. Such a
 * name travels as it is; `portableName` gives the local name a download is
 * saved under.
 */

// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029/\\]/
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/
const INVISIBLE_ONLY = /^[\p{White_Space}\p{Default_Ignorable_Code_Point}]+$/u

export function nameProblem(input: unknown): string | undefined {
  if (typeof input !== 'string') return 'a name must be a string'
  if (!input.isWellFormed()) return 'a name must be valid Unicode'
  // What Node makes of a file name's bytes that are not UTF-8 (each bad byte one U+FFFD): such a name cannot be
  // opened by the name Node gives it, and means nothing to another machine.
  if (input.includes('\uFFFD'))
    return 'a name must be valid UTF-8 (it holds U+FFFD, what bytes that are not UTF-8 read as)'
  const name = input.normalize('NFC')
  if (name.length === 0) return 'a name must not be empty'
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) return `a name must be at most ${MAX_NAME_BYTES} bytes in UTF-8`
  if (FORBIDDEN.test(name)) return 'a name must not contain "/", "\\", NUL, control characters or line separators'
  if (BIDI.test(name)) return 'a name must not contain bidirectional controls (they disguise what a name says)'
  if (INVISIBLE_ONLY.test(name)) return 'a name must not be only spaces or invisible characters'
  if (name === '.' || name === '..') return 'a name must not be "." or ".."'
  if (name.toLowerCase().startsWith(STORE_PRIVATE_DIR))
    return `a name must not start with "${STORE_PRIVATE_DIR}" (in any letter case)`
  return undefined
}

/** Returns the NFC form of a valid name, or throws E_BAD_NAME. */
export function validateName(input: unknown): string {
  const problem = nameProblem(input)
  if (problem !== undefined) {
    const shown = typeof input === 'string' ? `"${printable(input, 80)}"` : typeof input
    throw new P2PError('E_BAD_NAME', `invalid file name ${shown}: ${problem}`)
  }
  return (input as string).normalize('NFC')
}

export function isValidName(input: unknown): input is string {
  return nameProblem(input) === undefined && (input as string) === (input as string).normalize('NFC')
}

const WINDOWS_FORBIDDEN = /[<>:"|?*]/g
const TRAILING_DOT_OR_SPACE = /[. ]$/

/**
 * The name a valid name is saved under locally (in downloads/): the same name
 * unless Windows would refuse or misread it. Then: each of `< > : " | ? *`
 * becomes `_` (`a:b` → `a_b`); a trailing dot or space becomes `_`
 * (`name. ` → `name._`); a reserved device name gets `_` after its base
 * (`CON` → `CON_`, `nul.txt` → `nul_.txt`, `com1 .tar.gz` → `com1 _.tar.gz`).
 * Deterministic and idempotent, so every machine saves a file under the same
 * name; the manifest keeps the original.
 */
export function portableName(name: string): string {
  let local = noTrailingDotOrSpace(name.replace(WINDOWS_FORBIDDEN, '_'))
  const dot = local.indexOf('.')
  const base = dot < 0 ? local : local.slice(0, dot)
  if (isReservedDeviceName(base)) {
    local = noTrailingDotOrSpace(shorten(`${base}_${local.slice(base.length)}`, MAX_NAME_BYTES))
  }
  return local
}

function noTrailingDotOrSpace(name: string): string {
  return TRAILING_DOT_OR_SPACE.test(name) ? `${name.slice(0, -1)}_` : name
}

/**
 * Windows opens a device, not a file, for these bases, in any letter case,
 * with trailing spaces, whatever the extension (as Go's filepath.IsLocal
 * reads them): CON PRN AUX NUL COM1–9 LPT1–9 (also with ¹ ² ³) CONIN$ CONOUT$.
 */
function isReservedDeviceName(base: string): boolean {
  const b = base.replace(/ +$/, '').toUpperCase()
  return /^(CON|PRN|AUX|NUL|CONIN\$|CONOUT\$)$/.test(b) || /^(COM|LPT)[1-9\u00b9\u00b2\u00b3]$/.test(b)
}

/** `text` cut to at most `maxBytes` UTF-8 bytes, at a code point boundary. */
export function shorten(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text
  let out = ''
  let used = 0
  for (const ch of text) {
    used += Buffer.byteLength(ch)
    if (used > maxBytes) break
    out += ch
  }
  return out
}

const INVISIBLE_IN_LATIN = /\p{Script=Latin}\p{Default_Ignorable_Code_Point}+\p{Script=Latin}/u

/** A letter's script, as far as telling look-alikes apart needs: the scripts confusables are among, CJK as one. */
const LETTER_SCRIPTS: ReadonlyArray<[string, RegExp]> = [
  ['Latin', /\p{Script=Latin}/u],
  ['Cyrillic', /\p{Script=Cyrillic}/u],
  ['Greek', /\p{Script=Greek}/u],
  ['CJK', /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Script=Bopomofo}]/u],
  ['Common', /\p{Script=Common}/u], // mathematical letters (𝗈) and the like
]

/**
 * Whether a word of `name` mixes the letters of two scripts ("rероrt.pdf": Cyrillic е, р and о among Latin
 * letters; `r\u200dеро\u200drt`, the joiners dropped first; Lisu ꓣ, Coptic ⲟ or a mathematical 𝗈 among Latin
 * letters), or holds an invisible joiner in a Latin word (`repo\u200drt`), which a listing marks: such a name
 * prints as another's (attacker passes, fifty-fifth session).
 * Latin beside Chinese, Japanese or Korean is not marked (UTS #39's "highly restrictive" level allows it), nor a
 * name wholly in one script, nor two scripts in separate words; an honest name mixing scripts in a word
 * (`10μs`) is marked too.
 */
export function mixesLookAlikeScripts(name: string): boolean {
  // An invisible joiner inside a Latin word prints as nothing: `repo\u200drt.pdf` is `report.pdf` on screen (an
  // emoji's or a Persian word's joiners sit between other characters).
  if (INVISIBLE_IN_LATIN.test(name)) return true
  const visible = name.replace(/\p{Default_Ignorable_Code_Point}/gu, '')
  for (const word of visible.match(/[\p{L}\p{M}]+/gu) ?? []) {
    const scripts = new Set<string>()
    for (const letter of word.match(/\p{L}/gu) ?? [])
      scripts.add(LETTER_SCRIPTS.find(([, script]) => script.test(letter))?.[0] ?? 'other')
    if (scripts.has('Latin')) scripts.delete('CJK')
    if (scripts.size > 1) return true
  }
  return false
}
