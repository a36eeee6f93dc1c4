/**
 * JSON from bytes that must be UTF-8: a byte sequence that is not (a stray
 * 0xff, a truncated character) is an error, not a U+FFFD in a name or an id.
 * The one parse for everything read from a peer or a file; each caller turns
 * the error into its own code (E_BAD_FRAME, E_BAD_DATAGRAM, E_BAD_MANIFEST, …).
 */

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** The parsed value; throws a TypeError (not UTF-8) or a SyntaxError (not JSON). */
export function parseJsonUtf8(bytes: Uint8Array): unknown {
  return JSON.parse(strictUtf8.decode(bytes))
}
