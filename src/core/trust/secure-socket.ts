import { EventEmitter } from 'node:events'
import { connect, type Socket } from 'node:net'
import { hasCode, P2PError } from '../errors.js'
import { MessageInput } from './message-input.js'
import { RecordDeadline } from './record-deadline.js'
import { ABYTES, MAX_RECORD_BYTES, type RecordOpener, type RecordSealer, recordTooLarge } from './records.js'
import { SealBuffers, sendSealed } from './seal-buffers.js'
import { SecureHandshake } from './secure-handshake.js'
import type { SecureOptions, SecureReader } from './secure-options.js'
import { closeFailedSocket, resetUnlessEnding } from './socket-close.js'

export { DEFAULT_HANDSHAKE_TIMEOUT_MS } from './secure-handshake.js'
export type { SecureOptions, SecureReader } from './secure-options.js'

/**
 * An encrypted, authenticated connection over a TCP socket: the Noise XX
 * handshake of hyperswarm's secret-stream and the checks of who may connect
 * (secure-handshake.ts), then records (records.ts) with our own buffers: a
 * receiver reads each record into one reused buffer (on the connecting side
 * straight from the socket, `onread`) and decrypts it into the reader's
 * window (a chunk body) when the reader offers one, else in place; a sender
 * seals into pooled buffers.
 *
 * `ready` resolves once the setup passed (data sent before is queued).
 * Afterwards: a record that fails authentication → E_TAMPERED; one over
 * MAX_RECORD_BYTES → E_TOO_LARGE; one not whole within `recordTimeoutMs`
 * (a server's) → E_TIMEOUT. Every failure closes the socket once and
 * is the `error` given to 'close' listeners.
 *
 * Events: 'data' (a view valid only during the call), 'end' (the peer ended
 * its half, once open; during the setup: E_CLOSED), 'drain', 'close' (err?).
 */

const SHARED_BUFFERS = new SealBuffers()

type Phase = 'setup' | 'open' | 'closed'

export class SecureSocket extends EventEmitter {
  readonly ready: Promise<void>
  remotePublicKey: Buffer | undefined
  handshakeHash: Buffer | undefined
  closedWith: P2PError | undefined
  private phase: Phase = 'setup'
  private setup: SecureHandshake | undefined
  private sealer: RecordSealer | undefined
  private opener: RecordOpener | undefined
  private readonly input = new MessageInput({
    closed: () => this.phase === 'closed',
    // The connecting side receives the bulk (chunks); an accepting side receives only small requests.
    readAhead: () => this.initiator && this.phase === 'open',
    checkLength: (length) => this.checkLength(length),
    message: (message) => {
      this.messagesIn++
      this.onMessage(message)
    },
  })
  private reader: SecureReader = {}
  private readonly queued: Buffer[] = []
  private readonly buffers: SealBuffers
  private readonly recordDeadline: RecordDeadline
  /** Messages read whole (a record's deadline starts again once one is). */
  private messagesIn = 0
  private settle!: (err?: P2PError) => void

  readonly label: string

  private constructor(
    readonly socket: Socket,
    readonly initiator: boolean,
    options: SecureOptions,
    label?: string,
  ) {
    super()
    this.label = label ?? `${socket.remoteAddress}:${socket.remotePort}`
    this.buffers = options.buffers ?? SHARED_BUFFERS
    this.recordDeadline = new RecordDeadline(options.recordTimeoutMs, (ms) =>
      this.fail(new P2PError('E_TIMEOUT', `${this.label} did not complete an encrypted record within ${ms} ms`)),
    )
    this.ready = new Promise<void>((resolve, reject) => {
      this.settle = (err) => (err ? reject(err) : resolve())
    })
    this.ready.catch(() => undefined) // a failure also reaches 'close'; nobody need await ready
    socket.on('error', (err) =>
      this.fail(new P2PError('E_CLOSED', `connection to ${this.label} failed: ${err.message}`)),
    )
    socket.on('close', () => this.fail(new P2PError('E_CLOSED', `connection to ${this.label} closed`)))
    socket.on('end', () => this.ended())
    socket.on('drain', () => this.emit('drain'))
    this.setup = new SecureHandshake(
      {
        label: this.label,
        initiator,
        write: (bytes) => socket.write(bytes),
        end: (bytes) => socket.end(bytes),
        identified: (remotePublicKey, handshakeHash) => {
          this.remotePublicKey = remotePublicKey
          this.handshakeHash = handshakeHash
        },
        keyed: (sealer) => {
          this.sealer = sealer
        },
        send: (plain) => this.send(plain),
        open: (opener) => this.open(opener),
        fail: (err) => this.fail(err),
      },
      options,
    )
  }

  /** The accepting side, over a socket a server just accepted (its bytes come as 'data' events). */
  static accept(socket: Socket, options: SecureOptions): SecureSocket {
    return SecureSocket.over(socket, false, options)
  }

  /** Either side over a socket already connected whose bytes come as 'data' events. */
  static over(socket: Socket, initiator: boolean, options: SecureOptions): SecureSocket {
    const secure = new SecureSocket(socket, initiator, options)
    socket.on('data', (segment: Buffer) => secure.received(segment))
    return secure
  }

  /** The connecting side: the socket reads each record straight into the record buffer. */
  static connect(target: { host: string; port: number }, options: SecureOptions): SecureSocket {
    let secure: SecureSocket | undefined
    // Node asks for the first read's buffer while connecting, before `secure` exists: that one read is copied.
    const first = Buffer.allocUnsafe(256)
    const socket = connect({
      host: target.host,
      port: target.port,
      noDelay: true,
      onread: {
        buffer: () => secure?.input.window() ?? first,
        callback: (bytes, into) => {
          secure!.received(into === first ? first.subarray(0, bytes) : bytes)
          return true
        },
      },
    })
    secure = new SecureSocket(socket, true, options, `${target.host}:${target.port}`)
    return secure
  }

  get closed(): boolean {
    return this.phase === 'closed'
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort
  }

  get localAddress(): string | undefined {
    return this.socket.localAddress
  }

  get localPort(): number | undefined {
    return this.socket.localPort
  }

  /** Sealed bytes not yet handed to the kernel, and plaintext queued until the session opens. */
  get writableLength(): number {
    return this.socket.writableLength + this.queued.reduce((n, b) => n + b.byteLength, 0)
  }

  /** Set where plaintext goes; 'data' listeners get whatever is not read into a window. */
  setReader(reader: SecureReader): void {
    this.reader = reader
  }

  /** Seal and send; returns false when the socket's buffer is full ('drain' follows). Before `ready`, queued. */
  write(plain: Buffer, callback?: (err?: Error | null) => void): boolean {
    if (this.phase === 'closed') {
      if (callback) process.nextTick(callback, this.closedWith)
      return false
    }
    if (this.phase !== 'open' || this.queued.length > 0) {
      this.queued.push(Buffer.from(plain)) // a copy: the caller may reuse its buffer
      if (callback)
        void this.ready.then(
          () => callback(),
          (err: Error) => callback(err),
        )
      return true
    }
    return this.send(plain, callback)
  }

  end(plain?: Buffer): void {
    if (plain) this.write(plain)
    void this.ready.then(
      () => this.socket.end(),
      () => undefined,
    )
  }

  destroy(err?: P2PError): void {
    this.fail(err ?? new P2PError('E_CLOSED', `connection to ${this.label} closed by us`))
  }

  /** Close, with a TCP reset where libuv allows one (socket-close.ts). */
  resetAndDestroy(): void {
    resetUnlessEnding(this.socket)
    this.destroy()
  }

  cork(): void {
    this.socket.cork()
  }

  uncork(): void {
    this.socket.uncork()
  }

  pause(): void {
    this.socket.pause()
    this.recordDeadline.readingNow(false)
  }

  resume(): void {
    this.socket.resume()
    this.recordDeadline.readingNow(true)
  }

  private send(plain: Buffer, callback?: (err?: Error | null) => void): boolean {
    return sendSealed(this.socket, this.buffers, this.sealer!, plain, callback)
  }

  // --- receiving: bytes into messages (message-input.ts), each to the setup or opened as a record ---

  /** What the socket gave: a count of bytes read into input.window(), or a 'data' event's bytes. */
  private received(read: number | Buffer): void {
    const before = this.messagesIn
    try {
      if (typeof read === 'number') this.input.added(read)
      else this.input.consume(read)
    } catch (err) {
      this.fail(hasCode(err) ? err : new P2PError('E_INTERNAL', String(err)))
    }
    this.recordDeadline.held(this.phase === 'open' && this.input.pending > 0, this.messagesIn > before)
  }

  private checkLength(length: number): void {
    if (this.setup?.expectsHandshake) {
      this.setup.checkHandshakeLength(length)
    } else if (length > MAX_RECORD_BYTES) {
      throw recordTooLarge(length, this.label)
    }
  }

  private onMessage(message: Buffer): void {
    switch (this.phase) {
      case 'setup':
        this.setup!.receive(message)
        return
      case 'open':
        this.onRecord(message)
        return
    }
  }

  private open(opener: RecordOpener): void {
    this.setup = undefined
    this.opener = opener
    this.phase = 'open'
    for (const plain of this.queued.splice(0)) this.send(plain)
    this.settle()
  }

  private onRecord(record: Buffer): void {
    const window = this.reader.window?.()
    if (window && window.byteLength >= record.byteLength - ABYTES) {
      const n = this.opener!.openInto(record, window)
      this.reader.filled!(n)
      return
    }
    // In place (as secret-stream does: the plaintext where the ciphertext began, after its tag byte),
    // a view of the record buffer, valid until the next read.
    const n = this.opener!.openInto(record, record.subarray(1))
    this.emit('data', record.subarray(1, 1 + n))
  }

  /** The peer ended its half, after its every byte was handled (a record left unfinished never will be). */
  private ended(): void {
    if (this.phase === 'open') this.emit('end')
    else if (this.phase === 'setup')
      // A server refuses a key its --allow leaves out so (a UX audit read only "busy or unreachable").
      this.fail(
        new P2PError('E_CLOSED', `${this.label} ended the connection in the handshake (its --allow may leave us out)`),
      )
  }

  private fail(err: P2PError): void {
    if (this.phase === 'closed') return
    this.phase = 'closed'
    this.closedWith = err
    this.recordDeadline.stop()
    this.setup?.destroy()
    this.queued.length = 0
    closeFailedSocket(this.socket, !this.initiator && err.details?.answered === true)
    this.settle(err)
    this.emit('close', err)
  }
}
