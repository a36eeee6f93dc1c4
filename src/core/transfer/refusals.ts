/**
 * The connections a chunk server turned away whose answer (E_BUSY) may still
 * be on its way. One address has at most `perAddress` of them at a time and
 * the server at most `total`: the rest are closed unanswered, so that
 * refusals cost neither a handshake nor a descriptor for long however fast
 * they come (each answered one is cut off a second after its refusal:
 * ServerConnection.refuse). Each socket taken here is given back once, on
 * its 'close'.
 */

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
