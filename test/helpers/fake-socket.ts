import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'

/**
 * Just enough of a net.Socket for SecureSocket.accept, in memory: what it
 * writes goes to `onWrite`; `feed` delivers bytes as a 'data' event. For
 * property tests and fuzzing of the handshake and record parsing, where a
 * real socket per case would be too slow.
 */
export class FakeSocket extends EventEmitter {
  destroyed = false
  ended = false
  writableLength = 0
  remoteAddress = '198.51.100.7'
  remotePort = 4242
  constructor(private readonly onWrite: (bytes: Buffer) => void = () => undefined) {
    super()
  }

  feed(bytes: Buffer): void {
    if (!this.destroyed) this.emit('data', bytes)
  }

  write(bytes: Buffer, callback?: (err?: Error | null) => void): boolean {
    if (!this.destroyed) this.onWrite(Buffer.from(bytes))
    if (callback) queueMicrotask(() => callback())
    return true
  }

  end(bytes?: Buffer): void {
    if (bytes) this.write(bytes)
    this.ended = true
  }

  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    queueMicrotask(() => this.emit('close'))
  }

  setTimeout(): void {}
  pause(): void {}
  resume(): void {}
  cork(): void {}
  uncork(): void {}

  asSocket(): Socket {
    return this as unknown as Socket
  }
}
