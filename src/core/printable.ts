/**
 * Text from outside (a peer's error message, a file name, a path) made safe
 * to show on a terminal. A terminal obeys what it is sent: ESC and CSI (0x9b)
 * start sequences that move the cursor, erase lines, recolour text or set the
 * window title; OSC 52 writes the clipboard; CR and BS overwrite what was
 * printed; bidi overrides and isolates (U+202E…) reorder a line so that
 * `gnp.exe` reads as `exe.png`; zero-width characters make two strings look
 * the same. Every such code point is shown as a visible escape instead
 * (`\x1b`, `\r`, `\u202e`), as are lone surrogates, and the result is cut at
 * `maxLength` code points. Plain printable text comes back unchanged.
 *
 * Escaped: controls (Cc: C0, DEL, C1), format characters (Cf: bidi marks,
 * embeddings, overrides and isolates, zero-width space, word joiner, BOM, soft
 * hyphen, tags…), line and paragraph separators, the other default-ignorable
 * (invisible) code points, and surrogates. Kept: the zero-width joiner and
 * non-joiner and the variation selectors, which emoji sequences and several
 * scripts need and which hide nothing on their own.
 */

const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Default_Ignorable_Code_Point}]/u
// biome-ignore lint/suspicious/noMisleadingCharacterClass: one code point at a time is tested; the class lists joiners and variation selectors alone, on purpose
const KEPT = /^[\u200c\u200d\ufe00-\ufe0f\u{e0100}-\u{e01ef}]$/u
const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }

/** Default cut for one line of output. */
export const PRINTABLE_MAX = 1000

export function printable(text: string, maxLength = PRINTABLE_MAX): string {
  if (!HIDDEN.test(text) && text.length <= maxLength) return text
  const pieces: string[] = []
  let count = 0 // code points in `pieces` (an escape is ASCII: one per character)
  for (const ch of text) {
    const piece = HIDDEN.test(ch) && !KEPT.test(ch) ? escapeCodePoint(ch) : ch
    const size = piece === ch ? 1 : piece.length
    if (count + size > maxLength) {
      // Whole pieces only (never half an escape), and room for the ellipsis.
      while (pieces.length > 0 && count + 1 > maxLength) count -= sizeOf(pieces.pop()!)
      return maxLength > 0 ? `${pieces.join('')}…` : ''
    }
    pieces.push(piece)
    count += size
  }
  return pieces.join('')
}

function sizeOf(piece: string): number {
  return piece.startsWith('\\') ? piece.length : 1
}

function escapeCodePoint(ch: string): string {
  const named = NAMED[ch]
  if (named !== undefined) return named
  const code = ch.codePointAt(0)!
  if (code < 0x80) return `\\x${code.toString(16).padStart(2, '0')}`
  if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, '0')}`
  return `\\u{${code.toString(16)}}`
}
