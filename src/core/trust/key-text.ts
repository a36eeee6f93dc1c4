/**
 * The text form of a 32-byte key, for people: the way Syncthing writes its
 * device IDs. The key is written in RFC 4648 base32 (A–Z, 2–7, no padding:
 * 52 characters), cut into four groups of 13, each followed by one Luhn mod 32
 * check character (Syncthing's variant, below), and the 56 characters are
 * shown in eight groups of seven joined by `-`:
 *
 *   MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGZDMM-FZWI3DP-ONSGYCY-LTMRWGC
 *
 * Any single mistyped character is caught: a wrong character in a group
 * changes that group's check (the doubling below is a permutation of 0…31),
 * a wrong check character no longer matches, and a dropped or added
 * character changes the length. Parsing accepts lower case, and spaces, tabs
 * or dashes anywhere (people paste them differently); nothing else (ASCII).
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
const VALUE = new Map([...ALPHABET].map((c, i) => [c, i]))
export const KEY_BYTES = 32
const DATA_CHARS = 52
const GROUP = 13

export function base32(bytes: Uint8Array): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
    value &= (1 << bits) - 1
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31]
  return out
}

/** Bytes of an unpadded base32 string of exactly `length` bytes' worth; undefined when it is not one. */
export function fromBase32(text: string, length: number): Buffer | undefined {
  if (text.length !== Math.ceil((length * 8) / 5)) return undefined
  const out = Buffer.alloc(length)
  let bits = 0
  let value = 0
  let at = 0
  for (const c of text) {
    const v = VALUE.get(c)
    if (v === undefined) return undefined
    value = (value << 5) | v
    bits += 5
    if (bits >= 8) {
      out[at++] = (value >>> (bits - 8)) & 255
      bits -= 8
    }
    value &= (1 << bits) - 1
  }
  // The spare low bits of the last character must be zero: one text per key.
  return value === 0 ? out : undefined
}

/**
 * Syncthing's Luhn mod 32: from the first character on, factors 1, 2, 1, 2, …;
 * an addend is `f·v` folded as `⌊f·v / 32⌋ + f·v mod 32`; the check character
 * is the one whose value brings the sum to a multiple of 32.
 */
export function luhn32(group: string): string {
  let factor = 1
  let sum = 0
  for (const c of group) {
    const addend = factor * VALUE.get(c)!
    factor = factor === 2 ? 1 : 2
    sum += Math.floor(addend / 32) + (addend % 32)
  }
  return ALPHABET[(32 - (sum % 32)) % 32]!
}

export function formatKey(key: Uint8Array): string {
  if (key.byteLength !== KEY_BYTES) throw new RangeError(`a key is ${KEY_BYTES} bytes, not ${key.byteLength}`)
  const data = base32(key)
  let checked = ''
  for (let i = 0; i < DATA_CHARS; i += GROUP) {
    const group = data.slice(i, i + GROUP)
    checked += group + luhn32(group)
  }
  return checked.match(/.{7}/g)!.join('-')
}

export type KeyTextProblem = 'length' | 'character' | 'check'

/**
 * The key a text form names, or why it names none and where, so that a message can point at the typo: `at` counts
 * the characters that are no space, tab or dash, from 0: the first that is not A–Z or 2–7 (`character`), the check
 * character that failed (`check`), or how many there are (`length`).
 */
export function parseKeyText(text: string): { key: Buffer } | { problem: KeyTextProblem; at: number } {
  const compact = text.replace(/[ \t-]/g, '').replace(/[a-z]/g, (c) => c.toUpperCase())
  // ASCII only: Unicode's spaces (U+FEFF, U+3000 …) and case folds (ſ → S, ı → I) would let an allow-list entry
  // look unlike the key it grants (an attacker pass, fifty-first session).
  const odd = compact.search(/[^\x20-\x7e]/)
  if (odd >= 0) return { problem: 'character', at: odd }
  if (compact.length !== DATA_CHARS + DATA_CHARS / GROUP) return { problem: 'length', at: compact.length }
  const bad = [...compact].findIndex((c) => !VALUE.has(c))
  if (bad >= 0) return { problem: 'character', at: bad }
  let data = ''
  for (let i = 0; i < compact.length; i += GROUP + 1) {
    const group = compact.slice(i, i + GROUP)
    if (luhn32(group) !== compact[i + GROUP]) return { problem: 'check', at: i + GROUP }
    data += group
  }
  const key = fromBase32(data, KEY_BYTES)
  // The last group's spare bits set: no key's text, though its check held.
  return key ? { key } : { problem: 'check', at: compact.length - 1 }
}
