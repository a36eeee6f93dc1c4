import { hasCode, P2PError } from '../errors.js'
import { printable } from '../printable.js'
import { encodeFrame, type Frame, FrameDecoder } from './framing.js'
import { errorHeader, parseResponse } from './messages.js'

/**
 * A server's refusal of a key its allow-list leaves out (protocol.md §5,
 * "Whom a peer accepts"). Once the Noise handshake has shown it the client's
 * key, the server sends its stream header and, as the session's first record
 * (in a private swarm, where its swarm proof would be), one §3 error frame,
 * then ends the connection:
 *
 *   {"type":"error","code":"E_AUTH","message":"…"}        no body
 *
 * Over the encrypted transport a server sends E_AUTH for nothing else, so a
 * client reads any E_AUTH answer of an encrypted peer, asked for or not, as
 * that peer's refusal of our key: it came sealed inside a session with the
 * key we dialled, so no one else can make it (a plain connection has no key,
 * and its E_AUTH means the other transport: download/other-transport.ts).
 * Here: the frame a server sends, and what a client makes of one.
 */

/** What the server says (the client words its own error; this is for a third-party client's people). */
const REFUSAL_TEXT = "your peer ID is not on this peer's allow-list (--allow): its owner must add it to be served"

/** The most of the peer's own words the client's error quotes (printable, as every peer text: printable.ts). */
const PEER_WORDS = 100

/** The plaintext of the one record a server's refusal is (sealed by the handshake: trust/secure-handshake.ts). */
export function allowRefusalFrame(): Buffer {
  return encodeFrame(errorHeader('E_AUTH', REFUSAL_TEXT))
}

/** Whether `err` is an encrypted peer's refusal of our key (`details.peerId`: the key that refused, as a peer ID). */
export function isRefusedUs(err: unknown): boolean {
  return hasCode(err, 'E_AUTH') && err.details?.refusedUs === true && typeof err.details.peerId === 'string'
}

/** The refusal by the encrypted peer at `peer` (address:port) holding `peerId`, which said `message`. */
export function refusedBy(peer: string, peerId: string, message: string): P2PError {
  return new P2PError(
    'E_AUTH',
    `${printable(peer, 80)} (peer ID ${peerId}) refuses us: our peer ID is not on its allow-list (it said "${printable(message, PEER_WORDS)}")`,
    { refusedUs: true, peerId },
  )
}

/**
 * The refusal in a record where the peer's swarm proof was due: its plaintext exactly one error frame, E_AUTH,
 * without a body. Undefined for anything else (the proof check then fails as it always did).
 */
export function refusalInRecord(plain: Buffer, peer: string, peerId: string): P2PError | undefined {
  const decoder = new FrameDecoder({ maxHeaderBytes: plain.byteLength, maxBodyBytes: 0 })
  let frames: Frame[]
  try {
    frames = decoder.push(plain)
  } catch {
    return undefined
  }
  const [frame] = frames
  if (frames.length !== 1 || decoder.failure || decoder.buffered > 0 || frame!.body !== undefined) return undefined
  try {
    const response = parseResponse(frame!.header)
    return response.type === 'error' && response.code === 'E_AUTH'
      ? refusedBy(peer, peerId, response.message)
      : undefined
  } catch {
    return undefined
  }
}
