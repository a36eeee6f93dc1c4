/**
 * The most a DHT session keeps of what a peer sends while its reader asked to wait (a server with 32 requests
 * unanswered, or after a bad frame): four of the largest messages. An honest peer sends a server requests of a few
 * hundred bytes each, a few at a time, and a server's 256 connections hold at most 64 MiB so.
 */
export const MAX_HELD_WHILE_PAUSED = 256 * 1024
/**
 * What each piece held is charged beyond its bytes: a Buffer and its place in the list cost ~140 bytes, so without
 * it 1-byte messages (21 on the wire each) held ~140 times the bound (an attacker pass, fortieth session: 16
 * connections took a seeder to 650 MB). Charged generously: it bounds what pieces cost, not what bytes do.
 */
export const HELD_PIECE_COST = 1024

/** What `bytes` in `pieces` pieces are charged against a bound on what a session holds (HELD_PIECE_COST). */
export function heldCost(bytes: number, pieces: number): number {
  return bytes + pieces * HELD_PIECE_COST
}

/**
 * What a DHT session keeps of a peer's data while its reader has paused it. On TCP a pause is the kernel's window
 * closing: the sender stops. The engine's UDX stream has no receive window (it acknowledges whatever comes,
 * paused or not), so pausing it only moved the pile into the engine, without bound: one stranger's connection
 * grew a seeder to 3.8 GB in 40 s (an attacker pass, fortieth session). The session keeps the data here instead,
 * copied, and closes the connection once what it holds, each piece charged HELD_PIECE_COST more, is over
 * MAX_HELD_WHILE_PAUSED.
 */
export class PausedIntake {
  paused = false
  private held: Buffer[] = []
  private bytes = 0

  get heldBytes(): number {
    return this.bytes
  }

  /**
   * Keeps `data` (a copy: the engine's buffers are not ours to hold); false once what is held, each piece charged
   * HELD_PIECE_COST more, is over the bound.
   */
  hold(data: Buffer): boolean {
    this.held.push(Buffer.from(data))
    this.bytes += data.byteLength
    return heldCost(this.bytes, this.held.length) <= MAX_HELD_WHILE_PAUSED
  }

  /** Hands what was held to `deliver`, in order, until the reader pauses again. */
  resume(deliver: (data: Buffer) => void): void {
    this.paused = false
    while (!this.paused && this.held.length > 0) {
      const data = this.held.shift()!
      this.bytes -= data.byteLength
      deliver(data)
    }
  }

  /** Lets go of everything held (the session closed). */
  clear(): void {
    this.held = []
    this.bytes = 0
  }
}
