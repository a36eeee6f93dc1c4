import { P2PError } from '../errors.js'
import { formatKey, parseKeyText } from './key-text.js'

/**
 * A peer ID is the peer's ed25519 public key (the static key of its Noise
 * handshakes) in the checked text form of key-text.ts. It is the key itself,
 * not a hash of it, so a peer ID is all one needs to check whom a connection
 * reached, here or through hyperswarm's DHT, which keys peers the same way.
 */

export const formatPeerId = (publicKey: Uint8Array): string => formatKey(publicKey)

const PROBLEMS = {
  length: 'is not 56 characters (eight groups of seven, dashes optional)',
  character: 'holds a character that is not A–Z or 2–7',
  check: 'fails its check characters (a typo?)',
} as const

/** Quoted with every character outside printable ASCII as `\uXXXX`: a no-break space pasted from a chat shows. */
const quoted = (text: string): string =>
  JSON.stringify(text).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

/** The public key a peer ID names; E_USAGE (saying what is wrong) when the text is not a valid peer ID. */
export function parsePeerId(text: string, what = 'peer ID'): Buffer {
  const parsed = parseKeyText(text)
  if ('problem' in parsed)
    throw new P2PError('E_USAGE', `${what} ${quoted(text.slice(0, 80))} ${PROBLEMS[parsed.problem]}`)
  return parsed.key
}

/** The peer ID's text form, whatever form (case, dashes, spaces) it was given in. */
export const normalizePeerId = (text: string): string => formatPeerId(parsePeerId(text))
