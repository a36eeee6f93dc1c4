/**
 * The most a DHT session keeps of what a peer sends while its reader asked to wait (a server with 32 requests
 * unanswered, or after a bad frame): four of the largest messages. An honest peer sends a server requests of a few
 * hundred bytes each, a few at a time, and a server's 256 connections hold at most 64 MiB so.
 */
export const MAX_HELD_WHILE_PAUSED = 256 * 1024

/**
 * What a DHT session keeps of a peer's data while its reader has paused it. On TCP a pause is the kernel's window
 * closing: the sender stops. The engine's UDX stream has no receive window (it acknowledges whatever comes,
 * paused or not), so pausing it only moved the pile into the engine, without bound: one stranger's connection
 * grew a seeder to 3.8 GB in 40 s (an attacker pass, fortieth session). The session keeps the data here instead,
 * copied, and closes the connection once more than MAX_HELD_WHILE_PAUSED is held.
 */
export class PausedIntake {
  paused = false
  private held: Buffer[] = []
  private bytes = 0

  get heldBytes(): number {
    return this.bytes
  }

  /** Keeps `data` (a copy: the engine's buffers are not ours to hold); false once more than the bound is held. */
  hold(data: Buffer): boolean {
    this.held.push(Buffer.from(data))
    this.bytes += data.byteLength
    return this.bytes <= MAX_HELD_WHILE_PAUSED
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
