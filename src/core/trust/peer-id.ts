import { P2PError } from '../errors.js'
import { formatKey, type KeyTextProblem, parseKeyText } from './key-text.js'

/**
 * A peer ID is the peer's ed25519 public key (the static key of its Noise
 * handshakes) in the checked text form of key-text.ts. It is the key itself,
 * not a hash of it, so a peer ID is all one needs to check whom a connection
 * reached, here or through hyperswarm's DHT, which keys peers the same way.
 */

export const formatPeerId = (publicKey: Uint8Array): string => formatKey(publicKey)

/** Where `at` (key-text.ts: among the characters that are no space, tab or dash) is, as a peer ID is shown. */
const place = (at: number): string =>
  // Past the eighth group (a no-break space pasted after the ID): there is no "group 9" to look in.
  at >= 56
    ? `after its 56: character ${at + 1} without dashes and spaces`
    : `group ${Math.floor(at / 7) + 1}, character ${(at % 7) + 1}`

/** Each problem, where it is: a typo's place, not only that there is one (a UX audit). */
const PROBLEMS: Record<KeyTextProblem, (at: number) => string> = {
  length: (at) => `is ${at} characters without dashes and spaces, not 56 (eight groups of seven)`,
  character: (at) => `holds a character that is not A–Z or 2–7 (${place(at)})`,
  // Each two groups of seven end in the check character of their 13 others.
  check: (at) => {
    const first = Math.floor(at / 14) * 2 + 1
    return `fails its check characters: a typo in groups ${first}–${first + 1}?`
  },
}

/** Quoted with every character outside printable ASCII as `\uXXXX`: a no-break space pasted from a chat shows. */
const quoted = (text: string): string =>
  JSON.stringify(text).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

/** Why `text` is not a peer ID, and where (without quoting it), or undefined when it is one. */
export function peerIdProblem(text: string): string | undefined {
  const parsed = parseKeyText(text)
  return 'problem' in parsed ? PROBLEMS[parsed.problem](parsed.at) : undefined
}

/** The public key a peer ID names; E_USAGE (saying what is wrong, and where) when the text is not a valid peer ID. */
export function parsePeerId(text: string, what = 'peer ID'): Buffer {
  const parsed = parseKeyText(text)
  if ('problem' in parsed)
    throw new P2PError('E_USAGE', `${what} ${quoted(text.slice(0, 80))} ${PROBLEMS[parsed.problem](parsed.at)}`)
  return parsed.key
}

/** The peer ID's text form, whatever form (case, dashes, spaces) it was given in. */
export const normalizePeerId = (text: string): string => formatPeerId(parsePeerId(text))
