import { EventEmitter } from 'node:events'
import { connect, type Socket } from 'node:net'
import NoiseSecretStream, { type KeyPair } from '@hyperswarm/secret-stream'
import Handshake from '@hyperswarm/secret-stream/lib/handshake.js'
import { hasCode, P2PError } from '../errors.js'
import {
  ABYTES,
  LENGTH_BYTES,
  MAX_RECORD_BYTES,
  RecordOpener,
  RecordSealer,
  readLength,
  sealedLength,
} from './records.js'
import { SealBuffers } from './seal-buffers.js'
import { checkSwarmProof, PROOF_BYTES, swarmProof } from './swarm-secret.js'

/**
 * An encrypted, authenticated connection over a TCP socket: the Noise XX
 * handshake of hyperswarm's secret-stream (ed25519 static keys; driven by
 * its own Handshake class, so the handshake is theirs, not ours), then
 * records (records.ts) with our own buffers: a receiver reads each record
 * into one reused buffer (on the connecting side straight from the socket,
 * `onread`) and decrypts it into the reader's window (a chunk body) when the
 * reader offers one, else in place; a sender seals into pooled buffers.
 *
 * Who may connect is decided before a byte of data is delivered:
 *   - `handshakeTimeoutMs` bounds the whole setup (slowloris, half-open);
 *   - a handshake message over 1 KiB, or one that does not verify → E_AUTH;
 *   - a peer speaking the plain protocol (its first 3 bytes are zero: a
 *     plain frame's length prefix) → E_AUTH, after sending it `plainRefusal`;
 *   - `expectedRemoteKey` (the peer ID it announced) or `allow(key)` refuse → E_AUTH;
 *   - with `proofKey` (a private swarm), each side's first record is its
 *     swarm proof (swarm-secret.ts), checked before anything else → E_AUTH;
 *     the accepting side sends its own only after checking the other's.
 * `ready` resolves once all of that passed (data sent before is queued).
 * Afterwards: a record that fails authentication → E_TAMPERED; one over
 * MAX_RECORD_BYTES → E_TOO_LARGE. Every failure closes the socket once and
 * is the `error` given to 'close' listeners.
 *
 * Events: 'data' (a view valid only during the call), 'drain', 'close' (err?).
 */

export interface SecureOptions {
  keyPair: KeyPair
  handshakeTimeoutMs?: number
  /** The remote static key this connection must reach (the peer ID it announced). */
  expectedRemoteKey?: Buffer
  /** Whether a remote key is welcome (an allow-list); checked after the handshake. */
  allow?: (remoteKey: Buffer) => boolean
  /** A private swarm's proof key: both sides prove they hold the secret. */
  proofKey?: Buffer
  /** Bytes sent to a peer that spoke the plain protocol (a plain error frame), before closing. */
  plainRefusal?: Buffer
  /** Where sealed output is assembled (shared by a process's connections). */
  buffers?: SealBuffers
}

export interface SecureReader {
  /** Where the next `bytes` of plaintext may go directly (a body being assembled), if anywhere. */
  window?: () => Buffer | undefined
  /** `n` plaintext bytes were decrypted straight into window(). */
  filled?: (n: number) => void
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000
const MAX_HANDSHAKE_MESSAGE = 1024
/** The most a connecting side reads at once while streaming: four whole records. */
const READ_AHEAD_BYTES = 4 * (LENGTH_BYTES + MAX_RECORD_BYTES)
const SHARED_BUFFERS = new SealBuffers()

type Phase = 'handshake' | 'header' | 'proof' | 'open' | 'closed'

export class SecureSocket extends EventEmitter {
  readonly ready: Promise<void>
  remotePublicKey: Buffer | undefined
  handshakeHash: Buffer | undefined
  closedWith: P2PError | undefined
  private phase: Phase = 'handshake'
  private handshake: Handshake | undefined
  private sealer: RecordSealer | undefined
  private opener: RecordOpener | undefined
  private input = Buffer.allocUnsafe(4 * 1024)
  private filled = 0
  private reader: SecureReader = {}
  private readonly queued: Buffer[] = []
  private readonly timer: NodeJS.Timeout
  private readonly buffers: SealBuffers
  private settle!: (err?: P2PError) => void

  readonly label: string

  private constructor(
    readonly socket: Socket,
    readonly initiator: boolean,
    private readonly options: SecureOptions,
    label?: string,
  ) {
    super()
    this.label = label ?? `${socket.remoteAddress}:${socket.remotePort}`
    this.buffers = options.buffers ?? SHARED_BUFFERS
    this.ready = new Promise<void>((resolve, reject) => {
      this.settle = (err) => (err ? reject(err) : resolve())
    })
    this.ready.catch(() => undefined) // a failure also reaches 'close'; nobody need await ready
    const timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS
    this.timer = setTimeout(
      () =>
        this.fail(
          new P2PError(
            'E_AUTH',
            `no encrypted session with ${this.label} within ${timeoutMs} ms (handshake too slow or abandoned)`,
          ),
        ),
      timeoutMs,
    )
    socket.on('error', (err) =>
      this.fail(new P2PError('E_CLOSED', `connection to ${this.label} failed: ${err.message}`)),
    )
    socket.on('close', () => this.fail(new P2PError('E_CLOSED', `connection to ${this.label} closed`)))
    socket.on('drain', () => this.emit('drain'))
    this.handshake = new Handshake(initiator, options.keyPair, null, 'XX')
    if (initiator) this.sendHandshake(this.handshake.send())
  }

  /** The accepting side, over a socket a server just accepted (its bytes come as 'data' events). */
  static accept(socket: Socket, options: SecureOptions): SecureSocket {
    return SecureSocket.over(socket, false, options)
  }

  /** Either side over a socket already connected whose bytes come as 'data' events. */
  static over(socket: Socket, initiator: boolean, options: SecureOptions): SecureSocket {
    const secure = new SecureSocket(socket, initiator, options)
    socket.on('data', (segment: Buffer) => secure.consume(segment))
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
        buffer: () => secure?.readWindow() ?? first,
        callback: (bytes, into) => {
          if (into === first) secure!.consume(first.subarray(0, bytes))
          else secure!.afterRead(bytes)
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

  cork(): void {
    this.socket.cork()
  }

  uncork(): void {
    this.socket.uncork()
  }

  pause(): void {
    this.socket.pause()
  }

  resume(): void {
    this.socket.resume()
  }

  setTimeout(ms: number, onTimeout?: () => void): void {
    this.socket.setTimeout(ms, onTimeout)
  }

  private send(plain: Buffer, callback?: (err?: Error | null) => void): boolean {
    const out = this.buffers.take(sealedLength(plain.byteLength))
    this.sealer!.sealInto(plain, out)
    let returned = false
    const giveBack = (): void => {
      if (returned) return
      returned = true
      this.buffers.give(out)
    }
    const ok = this.socket.write(out, (err) => {
      giveBack()
      callback?.(err)
    })
    // Nothing left in the socket's queue: the kernel has every byte of `out` (a write libuv could not finish
    // keeps it queued), so it is free now. Its callback only runs on the next tick, and a sender writing in a
    // loop would otherwise take a fresh buffer (page faults) for every write until it yields.
    if (this.socket.writableLength === 0) giveBack()
    return ok
  }

  // --- receiving -----------------------------------------------------------

  /** Where the next socket read lands: the rest of the record being read, and the next record's length. */
  private readWindow(): Buffer {
    if (this.initiator && this.phase === 'open' && this.filled >= LENGTH_BYTES) {
      // The connecting side receives the bulk (chunks): several records a read, fewer system calls; a
      // partial one is moved to the front after. An accepting side receives only small requests.
      this.reserve(READ_AHEAD_BYTES)
      return this.input.subarray(this.filled)
    }
    const need = this.filled < LENGTH_BYTES ? 2 * LENGTH_BYTES : LENGTH_BYTES + readLength(this.input, 0) + LENGTH_BYTES
    this.reserve(need)
    return this.input.subarray(this.filled, need)
  }

  private afterRead(bytes: number): void {
    this.filled += bytes
    this.process()
  }

  /** Bytes from a 'data' event (a fresh buffer). */
  private consume(segment: Buffer): void {
    let at = 0
    while (at < segment.byteLength && this.phase !== 'closed') {
      const window = this.readWindow()
      const take = Math.min(window.byteLength, segment.byteLength - at)
      segment.copy(window, 0, at, at + take)
      at += take
      this.afterRead(take)
    }
  }

  private reserve(bytes: number): void {
    if (this.input.byteLength >= bytes) return
    const bigger = Buffer.allocUnsafe(Math.min(Math.max(bytes, 2 * this.input.byteLength), READ_AHEAD_BYTES))
    this.input.copy(bigger, 0, 0, this.filled)
    this.input = bigger
  }

  /** Every whole message in `input`, in order; a partial one stays (moved to the front). */
  private process(): void {
    try {
      let at = 0
      while (this.phase !== 'closed' && this.filled - at >= LENGTH_BYTES) {
        const length = readLength(this.input, at)
        this.checkLength(length)
        if (this.filled - at < LENGTH_BYTES + length) break
        const message = this.input.subarray(at + LENGTH_BYTES, at + LENGTH_BYTES + length)
        at += LENGTH_BYTES + length
        this.onMessage(message)
      }
      if (at > 0 && this.phase !== 'closed') {
        this.input.copy(this.input, 0, at, this.filled)
        this.filled -= at
      }
    } catch (err) {
      this.fail(hasCode(err) ? err : new P2PError('E_INTERNAL', String(err)))
    }
  }

  private checkLength(length: number): void {
    if (this.phase === 'handshake') {
      if (length === 0) throw this.plainPeer()
      if (length > MAX_HANDSHAKE_MESSAGE)
        throw new P2PError('E_AUTH', `${this.label} sent a ${length}-byte handshake message (not a p2pshare peer?)`)
    } else if (length > MAX_RECORD_BYTES) {
      throw new P2PError(
        'E_TOO_LARGE',
        `${this.label} sent a ${length}-byte encrypted record, over the limit of ${MAX_RECORD_BYTES}`,
      )
    }
  }

  private plainPeer(): P2PError {
    if (!this.initiator && this.options.plainRefusal) this.socket.end(this.options.plainRefusal)
    return new P2PError(
      'E_AUTH',
      this.initiator
        ? `${this.label} answered in the plain protocol: it runs with --transport plain (use the same transport on both peers)`
        : `${this.label} spoke the plain protocol to an encrypted peer (it runs with --transport plain)`,
      { plain: true },
    )
  }

  private onMessage(message: Buffer): void {
    switch (this.phase) {
      case 'handshake':
        this.onHandshake(message)
        return
      case 'header':
        this.onStreamHeader(message)
        return
      case 'proof':
        this.onProof(message)
        return
      case 'open':
        this.onRecord(message)
        return
    }
  }

  private onHandshake(message: Buffer): void {
    const step = this.handshake!.recv(message)
    if (step === null)
      throw new P2PError('E_AUTH', `the Noise handshake with ${this.label} failed (a message that does not verify)`)
    this.sendHandshake(step)
  }

  private sendHandshake(step: ReturnType<Handshake['send']>): void {
    if (step === null) throw new P2PError('E_AUTH', `the Noise handshake with ${this.label} failed`)
    if (step.data) this.socket.write(step.data)
    if (!step.tx || !step.rx || !step.hash || !step.remotePublicKey) return
    this.handshake = undefined
    this.remotePublicKey = step.remotePublicKey
    this.handshakeHash = step.hash
    this.checkRemoteKey(step.remotePublicKey)
    this.sealer = new RecordSealer(step.tx, NoiseSecretStream.id(step.hash, this.initiator))
    this.opener = new RecordOpener(step.rx, NoiseSecretStream.id(step.hash, !this.initiator))
    this.socket.write(this.sealer.streamHeader)
    // The connecting side proves first; the accepting side only after checking that proof, so a
    // stranger gets nothing from it but the handshake.
    if (this.options.proofKey && this.initiator) this.sendProof()
    this.phase = 'header'
  }

  private checkRemoteKey(key: Buffer): void {
    const expected = this.options.expectedRemoteKey
    if (expected && !expected.equals(key))
      throw new P2PError(
        'E_AUTH',
        `${this.label} holds another key than the peer ID it announced (someone answering in its place?)`,
        { keyMismatch: true },
      )
    if (this.options.allow && !this.options.allow(key))
      throw new P2PError('E_AUTH', `${this.label} is not on the allow-list`, { notAllowed: true })
  }

  private onStreamHeader(message: Buffer): void {
    this.opener!.start(message)
    if (this.options.proofKey) this.phase = 'proof'
    else this.open()
  }

  private onProof(record: Buffer): void {
    const length = this.opener!.openInto(record, record.subarray(1))
    if (
      length !== PROOF_BYTES ||
      !checkSwarmProof(this.options.proofKey!, this.handshakeHash!, !this.initiator, record.subarray(1, 1 + length))
    ) {
      throw new P2PError(
        'E_AUTH',
        `${this.label} did not prove it holds the swarm secret (not in this private swarm, or another secret)`,
        { proof: true },
      )
    }
    if (!this.initiator) this.sendProof()
    this.open()
  }

  private sendProof(): void {
    this.send(swarmProof(this.options.proofKey!, this.handshakeHash!, this.initiator))
  }

  private open(): void {
    this.phase = 'open'
    clearTimeout(this.timer)
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

  private fail(err: P2PError): void {
    if (this.phase === 'closed') return
    this.phase = 'closed'
    this.closedWith = err
    clearTimeout(this.timer)
    this.handshake?.destroy()
    this.queued.length = 0
    if (!(hasCode(err) && err.details?.plain === true && !this.initiator && this.options.plainRefusal))
      this.socket.destroy()
    else this.socket.setTimeout(1000, () => this.socket.destroy())
    this.settle(err)
    this.emit('close', err)
  }
}
