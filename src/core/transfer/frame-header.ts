import { P2PError } from '../errors.js'
import { parseJsonUtf8 } from '../json.js'

/** A frame's header (framing.ts): its bytes read as a JSON object, and the body length it declares. Pure. */

export type Header = Record<string, unknown>

/** Parse one header's bytes: a JSON object, or E_BAD_FRAME. */
export function parseHeader(bytes: Buffer): Header {
  let value: unknown
  try {
    value = parseJsonUtf8(bytes)
  } catch {
    throw new P2PError('E_BAD_FRAME', 'frame header is not UTF-8 JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new P2PError('E_BAD_FRAME', 'frame header is not a JSON object')
  return value as Header
}

/** The body length a header announces: none, or a non-negative integer within the limit. */
export function bodySize(header: Header, maxBodyBytes: number): number | undefined {
  if (!('size' in header)) return undefined
  const size = header.size
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw new P2PError('E_BAD_FRAME', 'frame "size" must be a non-negative integer')
  if (size > maxBodyBytes)
    throw new P2PError('E_TOO_LARGE', `frame body of ${size} bytes is over the limit of ${maxBodyBytes}`)
  return size
}
