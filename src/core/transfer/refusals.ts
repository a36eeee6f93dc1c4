import type { ErrorCode } from '../errors.js'
import type { Channel } from './connection-services.js'
import { encodeFrame } from './framing.js'
import { errorHeader } from './messages.js'

/**
 * The connections a chunk server turned away whose answer (E_BUSY) may still
 * be on its way. One address has at most `perAddress` of them at a time and
 * the server at most `total`: the rest are closed unanswered, so that
 * refusals cost neither a handshake nor a descriptor for long however fast
 * they come (each answered one is cut off a second after its refusal:
 * `refuse`). Each socket taken here is given back once, on its 'close'.
 */

/** How long a refused connection's error frame may take to leave before the socket is destroyed. */
const REFUSAL_GRACE_MS = 1000

/**
 * Refuse a connection with one error frame; it is cut off REFUSAL_GRACE_MS
 * after the refusal whatever it does meanwhile (a deadline, not an idle
 * timeout: a handshake trickled a byte at a time does not extend it).
 */
export function refuse(socket: Channel, code: ErrorCode, message: string): void {
  socket.on('error', () => undefined)
  const deadline = setTimeout(() => socket.destroy(), REFUSAL_GRACE_MS)
  socket.once('close', () => clearTimeout(deadline))
  socket.end(encodeFrame(errorHeader(code, message)))
}

interface Closable {
  destroy(): unknown
  once(event: 'close', listener: () => void): unknown
}

export class Refusals {
  private readonly closing = new Set<Closable>()
  private readonly closingFrom = new Map<string, number>()

  constructor(private readonly limits: { perAddress: number; total: number }) {}

  /** Whether `socket`, refused, may be answered: then it is counted until it closes. */
  take(socket: Closable, address: string): boolean {
    const from = this.closingFrom.get(address) ?? 0
    if (from >= this.limits.perAddress || this.closing.size >= this.limits.total) return false
    this.closingFrom.set(address, from + 1)
    this.closing.add(socket)
    socket.once('close', () => {
      if (!this.closing.delete(socket)) return
      const left = (this.closingFrom.get(address) ?? 1) - 1
      if (left > 0) this.closingFrom.set(address, left)
      else this.closingFrom.delete(address)
    })
    return true
  }

  /** Answers still on their way, all addresses together. */
  get size(): number {
    return this.closing.size
  }

  /** Addresses with an answer on its way (0 once every refused socket closed). */
  get addresses(): number {
    return this.closingFrom.size
  }

  /** Close them all now (the server is closing: a client that does not read would hold it open). */
  destroyAll(): void {
    for (const socket of this.closing) socket.destroy()
  }
}
