import { type Frame, FrameDecoder, type FrameLimits } from '../../src/core/transfer/framing.js'

/** A server's caps on a frame: 16 KiB of header, 1 MiB of body. */
export const limits = { maxHeaderBytes: 16 * 1024, maxBodyBytes: 1 << 20 }
/** A well-formed content ID. */
export const ID = 'ab'.repeat(32)

/** Every frame one decoder makes of `segments`, pushed in order. */
export function decodeAll(segments: Buffer[], l: FrameLimits = limits): Frame[] {
  const d = new FrameDecoder(l)
  return segments.flatMap((s) => d.push(s))
}
