import { P2PError } from '../errors.js'
import { bodySize, type Header, parseHeader } from './frame-header.js'

/**
 * The TCP frame codec, shared by server and client. Pure: bytes in, frames out.
 *
 *   0         4                     4+N                  4+N+size
 *   +---------+---------------------+--------------------+
 *   | N (u32, | header: N bytes of  | body: `size` raw   |
 *   | big-end)| UTF-8 JSON object   | bytes (only when   |
 *   |         |                     | header has "size") |
 *   +---------+---------------------+--------------------+
 *
 * The decoder never trusts a length: N is checked against maxHeaderBytes
 * before any byte of the header is kept, and `size` against maxBodyBytes —
 * and against the caller's own expectation (`checkHeader`) — before any
 * byte of the body is allocated or read. A body goes into a buffer of
 * exactly `size` bytes from `allocate` (sizes the caller vouched for);
 * otherwise into the decoder's own buffer, which starts small and doubles
 * as bytes arrive, so the memory a frame costs follows the bytes received,
 * not the size its header claims. Without `allocate`, a body inside one
 * segment is handed out as a view of it (no copy). With `allocate`, nothing
 * returned or kept refers to the segment, so a caller may reuse its read
 * buffer; and a caller may read body bytes straight into the body
 * (`bodyWindow`, `filledDirectly`), with no copy at all. A violation is
 * fatal for the stream (framing is lost): E_TOO_LARGE for a length over
 * its limit, E_BAD_FRAME for anything else.
 */

export interface Frame {
  header: Header
  body: Buffer | undefined
}

export interface FrameLimits {
  maxHeaderBytes: number
  maxBodyBytes: number
  /**
   * Called with every header and the body size it declares, before any byte
   * of that body is allocated or read: throw a P2PError to refuse the frame
   * (the stream then fails, as for any violation). A client checks here that
   * a response is the one it asked for, with the size it expects.
   */
  checkHeader?: (header: Header, size: number | undefined) => void
  /** Where a body of `size` bytes goes (e.g. pooled shared memory); undefined: the decoder's own growing buffer. */
  allocate?: (size: number) => Buffer | undefined
  /** First size of the decoder's own body buffers (default FIRST_BODY_BYTES); they double as bytes arrive. */
  firstBodyBytes?: number
}

export const LENGTH_BYTES = 4
/** A header split across segments starts in a buffer of this size (or its own, if smaller), which doubles as bytes arrive. */
const FIRST_HEADER_BYTES = 256
/** The decoder's own body buffers start at this size (or the body's, if smaller) and double as bytes arrive. */
export const FIRST_BODY_BYTES = 64 * 1024

export function encodeFrame(header: Header, body?: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(body === undefined ? header : { ...header, size: body.byteLength }), 'utf8')
  const out = Buffer.allocUnsafe(LENGTH_BYTES + json.length + (body?.byteLength ?? 0))
  out.writeUInt32BE(json.length, 0)
  json.copy(out, LENGTH_BYTES)
  if (body) out.set(body, LENGTH_BYTES + json.length)
  return out
}

/** Just the length prefix and header, for a body written separately (no copy of the body). */
export function encodeHeader(header: Header): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8')
  const out = Buffer.allocUnsafe(LENGTH_BYTES + json.length)
  out.writeUInt32BE(json.length, 0)
  json.copy(out, LENGTH_BYTES)
  return out
}

export class FrameDecoder {
  private readonly limits: FrameLimits
  private readonly prefix = Buffer.alloc(LENGTH_BYTES) // a length prefix split across segments
  private prefixFilled = 0
  // A header split across segments: its checked length, and its bytes so far in
  // a buffer that doubles as they arrive (as the decoder's own bodies do), so a
  // byte is copied at most twice however finely the header is cut, and what it
  // holds follows the bytes received, not the length the prefix claims.
  private headerLength = 0
  private headerBytes: Buffer | undefined
  private headerFilled = 0
  private header: Header | undefined
  private body: Buffer | undefined // capacity; the decoder's own buffers grow towards bodySize
  private bodyAllocated = false // `body` came from limits.allocate (the caller's), not the decoder's own
  private bodySize = 0
  private bodyFilled = 0
  private failed: P2PError | undefined
  private lastConsumed = 0 // fast path: where the frame just decoded ends in the segment

  constructor(limits: FrameLimits) {
    this.limits = limits
  }

  /** Bytes held for an incomplete frame (bounded by the limits, and for a header or the decoder's own body by twice the bytes received). */
  get buffered(): number {
    return this.prefixFilled + (this.headerBytes?.length ?? 0) + (this.body?.length ?? 0)
  }

  /** The violation that stopped this stream, if any (see push). */
  get failure(): P2PError | undefined {
    return this.failed
  }

  /**
   * Feed one segment; returns every frame it completes. On a violation it
   * throws a P2PError — unless good frames came before it in the same
   * segment: then those are returned first, `failure` is set, and the next
   * push throws. Callers check `failure` after handling the frames.
   */
  push(segment: Buffer): Frame[] {
    if (this.failed) throw this.failed
    const frames: Frame[] = []
    try {
      this.consume(segment, frames)
    } catch (err) {
      this.failed = err as P2PError
      if (frames.length === 0) throw err
    }
    return frames
  }

  private consume(segment: Buffer, frames: Frame[]): void {
    let at = 0
    while (at < segment.length) {
      if (this.body !== undefined) {
        at += this.fillBody(segment, at, frames)
        continue
      }
      if (this.prefixFilled === 0 && this.tryWholeHeader(segment, at, frames)) {
        at = this.lastConsumed
        continue
      }
      at += this.fillHeader(segment, at, frames)
    }
  }

  /** Fast path: prefix and header both inside this segment. */
  private tryWholeHeader(segment: Buffer, at: number, frames: Frame[]): boolean {
    if (segment.length - at < LENGTH_BYTES) return false
    const n = this.checkHeaderLength(segment.readUInt32BE(at))
    if (segment.length - at - LENGTH_BYTES < n) return false
    const header = parseHeader(segment.subarray(at + LENGTH_BYTES, at + LENGTH_BYTES + n))
    this.lastConsumed = at + LENGTH_BYTES + n
    this.startFrame(header, frames, segment)
    return true
  }

  /** Copies what this segment holds of a prefix and header split across segments; returns the bytes taken. */
  private fillHeader(segment: Buffer, at: number, frames: Frame[]): number {
    if (this.prefixFilled < LENGTH_BYTES) {
      const take = Math.min(LENGTH_BYTES - this.prefixFilled, segment.length - at)
      segment.copy(this.prefix, this.prefixFilled, at, at + take)
      this.prefixFilled += take
      if (this.prefixFilled === LENGTH_BYTES) {
        this.headerLength = this.checkHeaderLength(this.prefix.readUInt32BE(0))
        this.headerBytes = Buffer.allocUnsafe(Math.min(this.headerLength, FIRST_HEADER_BYTES))
      }
      return take
    }
    let header = this.headerBytes!
    if (this.headerFilled === header.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.headerLength, header.length * 2))
      header.copy(grown, 0, 0, this.headerFilled)
      this.headerBytes = header = grown
    }
    const take = Math.min(header.length - this.headerFilled, segment.length - at)
    segment.copy(header, this.headerFilled, at, at + take)
    this.headerFilled += take
    if (this.headerFilled === this.headerLength) {
      this.prefixFilled = 0
      this.headerBytes = undefined
      this.headerFilled = 0
      this.startFrame(parseHeader(header), frames)
    }
    return take
  }

  private checkHeaderLength(n: number): number {
    if (n > this.limits.maxHeaderBytes)
      throw new P2PError('E_TOO_LARGE', `frame header of ${n} bytes is over the limit of ${this.limits.maxHeaderBytes}`)
    if (n === 0) throw new P2PError('E_BAD_FRAME', 'empty frame header')
    return n
  }

  private startFrame(header: Header, frames: Frame[], segment?: Buffer): void {
    const size = bodySize(header, this.limits.maxBodyBytes)
    this.limits.checkHeader?.(header, size)
    if (size === undefined || size === 0) {
      frames.push({ header, body: size === 0 ? Buffer.alloc(0) : undefined })
      return
    }
    // The whole body already in this segment: hand out a view, no copy.
    if (this.limits.allocate === undefined && segment !== undefined && segment.length - this.lastConsumed >= size) {
      frames.push({ header, body: segment.subarray(this.lastConsumed, this.lastConsumed + size) })
      this.lastConsumed += size
      return
    }
    const body = this.limits.allocate?.(size)
    if (body !== undefined && body.length !== size)
      throw new P2PError('E_INTERNAL', `allocate(${size}) returned ${body.length} bytes`)
    this.header = header
    this.bodyAllocated = body !== undefined
    this.body = body ?? Buffer.allocUnsafe(Math.min(size, Math.max(1, this.limits.firstBodyBytes ?? FIRST_BODY_BYTES)))
    this.bodySize = size
    this.bodyFilled = 0
  }

  /** A full buffer of our own with more to come: double it (bytes received bound what a claim costs). */
  private makeRoom(): Buffer {
    const body = this.body!
    if (this.bodyFilled < body.length || body.length === this.bodySize) return body
    const grown = Buffer.allocUnsafe(Math.min(this.bodySize, body.length * 2))
    body.copy(grown, 0, 0, this.bodyFilled)
    this.body = grown
    return grown
  }

  private fillBody(segment: Buffer, at: number, frames: Frame[]): number {
    const body = this.makeRoom()
    const take = Math.min(body.length - this.bodyFilled, segment.length - at)
    segment.copy(body, this.bodyFilled, at, at + take)
    this.bodyFilled += take
    this.completeBody(frames)
    return take
  }

  private completeBody(frames: Frame[]): void {
    if (this.bodyFilled !== this.bodySize) return
    frames.push({ header: this.header!, body: this.body })
    this.header = undefined
    this.body = undefined
    this.bodyAllocated = false
    this.bodyFilled = 0
    this.bodySize = 0
  }

  /**
   * Stop assembling the body under way (the stream is being given up) and
   * return it if it came from `allocate`, so the caller can take it back;
   * undefined between bodies or for the decoder's own buffers.
   */
  abandonBody(): Buffer | undefined {
    const body = this.bodyAllocated ? this.body : undefined
    this.header = undefined
    this.body = undefined
    this.bodyAllocated = false
    this.bodyFilled = 0
    this.bodySize = 0
    return body
  }

  /**
   * The unfilled rest of the body being assembled (bodies from `allocate`
   * only), or undefined between bodies. A reader may read the socket straight
   * into it — the kernel's copy is then the only one — and report the bytes
   * with `filledDirectly`.
   */
  bodyWindow(): Buffer | undefined {
    if (this.body === undefined || this.limits.allocate === undefined || this.failed) return undefined
    return this.makeRoom().subarray(this.bodyFilled)
  }

  /** `n` bytes were read straight into bodyWindow(); returns the frame they complete, if any. */
  filledDirectly(n: number): Frame[] {
    if (this.failed) throw this.failed
    const frames: Frame[] = []
    if (this.body === undefined || n > this.body.length - this.bodyFilled)
      throw new P2PError('E_INTERNAL', 'bytes reported outside the body window')
    this.bodyFilled += n
    this.completeBody(frames)
    return frames
  }
}
