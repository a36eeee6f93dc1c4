/**
 * What JSON.parse would build from bytes, counted in one pass before it runs:
 * objects (`{`), arrays (`[`) and commas outside strings, and the longest
 * string (its bytes between the quotes, escapes as written). A peer's manifest
 * is parsed only when these fit what a valid one can hold, so its size in
 * bytes bounds what it costs: 32 MiB of `[[[[…]]]]` built 16 million arrays
 * (1.6 GB, the event loop held 15 s, Ctrl-C unheard) while objects and commas
 * alone were counted (an attacker pass, forty-seventh session); a 32 MiB name
 * of `\ud800` escapes cost 2 s and 275 MB to read (the attack on that fix).
 */

export interface JsonValueLimits {
  objects: number
  arrays: number
  commas: number
  /** Bytes of the longest string, keys included, as written between its quotes. */
  stringBytes: number
}

/** Which count of `bytes` goes past its limit first, or undefined when all fit. */
export function jsonValuesOver(bytes: Uint8Array, limits: JsonValueLimits): keyof JsonValueLimits | undefined {
  let objects = 0
  let arrays = 0
  let commas = 0
  let inString = false
  let stringStart = 0
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    if (inString) {
      if (b === 0x5c)
        i++ // backslash: the next byte is escaped
      else if (b === 0x22) {
        inString = false
        if (i - stringStart > limits.stringBytes) return 'stringBytes'
      } else if (i - stringStart >= limits.stringBytes) return 'stringBytes' // this byte is one too many
      continue
    }
    if (b === 0x22) {
      inString = true
      stringStart = i + 1
    } else if (b === 0x2c) commas++
    else if (b === 0x7b) {
      if (++objects > limits.objects) return 'objects'
    } else if (b === 0x5b && ++arrays > limits.arrays) return 'arrays'
  }
  return commas > limits.commas ? 'commas' : undefined
}
