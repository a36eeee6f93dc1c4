import { EventEmitter } from 'node:events'
import type { DhtSocket } from 'hyperdht'
import { hasCode, P2PError } from '../errors.js'
import { MAX_DHT_WRITE_BYTES } from './bounded-stream.js'
import { GreetingExchange, mutedServer } from './greeting.js'
import { HELD_PIECE_COST, heldCost, MAX_HELD_WHILE_PAUSED, PausedIntake } from './paused-intake.js'
import { acceptedRemoteKey, streamFailure } from './session-checks.js'
import type { DhtPath, DhtSessionOptions } from './session-options.js'

/**
 * Our frames over a connection made through the DHT (docs/protocol.md §6.4).
 * hyperdht's connection is already a Noise stream (secret-stream, our
 * ed25519 identity as the static key), so frames go inside it as they are;
 * what this adds is what secure-socket.ts does on TCP, before a frame:
 *   - `expectedRemoteKey` (the key that was dialled) and `allow(key)` → E_AUTH;
 *   - the greeting (greeting.ts): the accepting side's hello (in a private
 *     swarm, each side's proof, the dialler's first) and a challenge the
 *     dialler returns before its first frame → E_AUTH; the dialler is ready
 *     once the greeting came;
 *   - `handshakeTimeoutMs` bounds all of it (the hole punch included).
 * `ready` resolves once that passed; writes before are queued. Every failure
 * closes the stream once and is the error given to 'close' listeners.
 *
 * It offers what the chunk server's `Channel` and the client's session need:
 * 'data', 'drain', 'close' (err?), write with a callback (the bytes are
 * copied: the stream keeps them queued past the call, and the caller reuses
 * its buffer once called back), pause/resume, an idle timer; no local TCP
 * ends (it is not TCP), so a server ends it at once (graceful-end.ts).
 */

export type { DhtPath, DhtSessionOptions } from './session-options.js'

type Phase = 'opening' | 'greeting' | 'open' | 'closed'

export class DhtSession extends EventEmitter {
  readonly ready: Promise<void>
  readonly label: string
  remotePublicKey: Buffer | undefined
  closedWith: P2PError | undefined
  /** Set as it closes: the other end's bytes came, but no byte of its greeting or proof (greeting.ts `mutedServer`). */
  silentOnceOpen = false
  private openedAt: number | undefined
  private phase: Phase = 'opening'
  /** What came before the stream reported itself open (the other side's proof, or its first frames). */
  private early: Buffer[] = []
  private earlyLength = 0
  private readonly greeting: GreetingExchange
  private readonly intake = new PausedIntake()
  private readonly queued: Array<{ data: Buffer; callback?: ((err?: Error | null) => void) | undefined }> = []
  private timer: NodeJS.Timeout
  private idleTimer: NodeJS.Timeout | undefined
  private settle!: (err?: P2PError) => void

  constructor(
    readonly stream: DhtSocket,
    private readonly options: DhtSessionOptions,
    label?: string,
  ) {
    super()
    this.label = label ?? 'a DHT peer'
    this.greeting = new GreetingExchange({
      initiator: options.initiator,
      proofKey: options.proofKey,
      handshakeHash: () => stream.handshakeHash ?? null,
      label: this.label,
    })
    this.ready = new Promise<void>((resolve, reject) => {
      this.settle = (err) => (err ? reject(err) : resolve())
    })
    this.ready.catch(() => undefined)
    this.timer = setTimeout(
      () =>
        this.fail(
          new P2PError(
            'E_AUTH',
            `no session with ${this.label} within ${options.handshakeTimeoutMs} ms through the DHT`,
          ),
        ),
      options.handshakeTimeoutMs,
    )
    stream.on('error', (err: Error & { code?: unknown }) => this.fail(streamFailure(err, this.label)))
    stream.on('close', () => this.fail(new P2PError('E_CLOSED', `connection to ${this.label} closed`)))
    // The other side ended its half: end ours too, as a TCP socket does, or the stream stays half open (and its
    // session held) until an idle timeout: a stranger ending connections by the thousand would hold them all.
    stream.on('end', () => this.stream.end())
    stream.on('drain', () => this.emit('drain'))
    stream.on('data', (data: Buffer) => this.onData(data))
    stream.opened.then(
      (opened) => (opened ? this.onOpened() : undefined),
      () => undefined,
    )
  }

  get closed(): boolean {
    return this.phase === 'closed'
  }

  /** Whether any of the other end's bytes have come: a session to an address nobody is at (made up) has none. */
  get heardFrom(): boolean {
    return (this.stream.rawStream?.bytesReceived ?? 0) > 0
  }

  /** Bytes held for the session: what came before it was established or while paused, and writes queued until open. */
  get heldBytes(): number {
    return (
      this.earlyLength +
      this.greeting.heldBytes +
      this.intake.heldBytes +
      this.queued.reduce((n, q) => n + q.data.byteLength, 0)
    )
  }

  get path(): DhtPath | undefined {
    return this.options.path?.()
  }

  get remoteAddress(): string | undefined {
    return this.stream.rawStream?.remoteHost ?? undefined
  }

  get remotePort(): number | undefined {
    return this.stream.rawStream?.remotePort ?? undefined
  }

  /** Reads never go straight into a reader's window here: the stream hands over whole decrypted messages. */
  setReader(_reader: unknown): void {}

  write(data: Buffer, callback?: (err?: Error | null) => void): boolean {
    if (this.phase === 'closed') {
      if (callback) process.nextTick(callback, this.closedWith)
      return false
    }
    if (this.phase !== 'open') {
      this.queued.push({ data: Buffer.from(data), callback })
      return true
    }
    return this.send(data, callback)
  }

  end(data?: Buffer): void {
    if (data) this.write(data)
    void this.ready.then(
      () => this.stream.end(),
      () => undefined,
    )
  }

  destroy(err?: P2PError): void {
    this.fail(err ?? new P2PError('E_CLOSED', `connection to ${this.label} closed by us`))
  }

  /** As destroy(): what the stream holds unsent is the engine's, in this process, and goes with it (no kernel keeps it). */
  resetAndDestroy(): void {
    this.destroy()
  }

  /** Writes queued until the session opens (the engine's own queue is not told). */
  get writableLength(): number {
    return this.queued.reduce((n, q) => n + q.data.byteLength, 0)
  }

  cork(): void {}
  uncork(): void {}

  /** Holds what comes until resume(), up to a bound (paused-intake.ts): the engine's stream is never paused. */
  pause(): void {
    this.intake.paused = true
  }

  resume(): void {
    this.intake.resume((data) => {
      if (this.phase === 'open') this.emit('data', data)
    })
  }

  /** Calls `onTimeout` after `ms` with nothing read or written (0: never). */
  setTimeout(ms: number, onTimeout?: () => void): void {
    clearTimeout(this.idleTimer)
    this.idleTimer = undefined
    if (ms > 0 && onTimeout && this.phase !== 'closed') this.idleTimer = setTimeout(onTimeout, ms)
  }

  private touch(): void {
    this.idleTimer?.refresh()
  }

  private send(data: Buffer, callback?: (err?: Error | null) => void): boolean {
    this.touch()
    let ok = true
    for (let at = 0; at < data.byteLength; at += MAX_DHT_WRITE_BYTES)
      ok = this.stream.write(Buffer.from(data.subarray(at, at + MAX_DHT_WRITE_BYTES)))
    if (callback) process.nextTick(callback)
    return ok
  }

  private onOpened(): void {
    if (this.phase !== 'opening') return
    try {
      const key = this.stream.remotePublicKey
      if (key) this.remotePublicKey = key // known even when refused (the caller's log names it)
      acceptedRemoteKey(key, this.options, this.label)
      this.openedAt = performance.now()
      const opened = this.options.openedTimeoutMs
      if (opened !== undefined) {
        clearTimeout(this.timer)
        this.timer = setTimeout(() => this.fail(this.silence(opened)), opened)
      }
      const early = Buffer.concat(this.early)
      this.early = []
      this.earlyLength = 0
      this.phase = 'greeting'
      for (const bytes of this.greeting.start()) this.stream.write(bytes)
      if (early.byteLength > 0) this.onData(early)
    } catch (err) {
      this.fail(hasCode(err) ? err : new P2PError('E_INTERNAL', String(err)))
    }
  }

  /** Why the session fails when the greeting did not end within `ms` of the stream's opening. */
  private silence(ms: number): P2PError {
    const why = this.greeting.stalled()
    if (why) return new P2PError('E_AUTH', why)
    if (this.options.initiator) return new P2PError('E_AUTH', `${this.label} opened and said nothing within ${ms} ms`)
    return new P2PError('E_AUTH', `${this.label} did not answer our greeting within ${ms} ms`)
  }

  private onData(data: Buffer): void {
    if (this.phase === 'open' && this.intake.paused) {
      // Not activity: a peer that keeps sending while asked to wait does not hold its session open by it.
      if (!this.intake.hold(data))
        this.fail(
          new P2PError(
            'E_TOO_LARGE',
            `${this.label} kept sending while asked to wait (over ${MAX_HELD_WHILE_PAUSED} bytes, each message counted ${HELD_PIECE_COST} more)`,
          ),
        )
      return
    }
    this.touch()
    if (this.phase === 'open') {
      this.emit('data', data)
      return
    }
    if (this.phase === 'closed') return
    if (this.phase === 'opening') {
      this.early.push(Buffer.from(data))
      this.earlyLength += data.byteLength
      if (heldCost(this.earlyLength, this.early.length) > 64 * 1024)
        this.fail(new P2PError('E_AUTH', `${this.label} sent data before its session`))
      return
    }
    const step = this.greeting.take(Buffer.from(data))
    for (const bytes of step.write) this.stream.write(bytes)
    if (step.refused) this.fail(step.refused)
    else if (step.done) this.open(step.done)
  }

  private open(rest: Buffer): void {
    this.phase = 'open'
    clearTimeout(this.timer)
    for (const { data, callback } of this.queued.splice(0)) this.send(data, callback)
    this.settle()
    // Frames that arrived along with the greeting (after the listeners were attached: both users attach at once),
    // held if the session is paused (a server admits a session, and resumes it, once its greeting is done).
    if (rest.byteLength > 0) this.onData(rest)
  }

  private fail(err: P2PError): void {
    if (this.phase === 'closed') return
    const raw = this.stream.rawStream
    this.silentOnceOpen =
      this.phase === 'greeting' &&
      mutedServer({
        greetingBytes: this.greeting.heard,
        openForMs: this.openedAt === undefined ? undefined : performance.now() - this.openedAt,
        bytesReceived: raw?.bytesReceived,
        rttMs: raw?.rtt,
      })
    this.phase = 'closed'
    this.closedWith = err
    clearTimeout(this.timer)
    clearTimeout(this.idleTimer)
    this.idleTimer = undefined
    // What a peer sent before its session (up to 64 KiB) is let go with it, not kept until the object is.
    this.early = []
    this.earlyLength = 0
    this.greeting.clear()
    this.intake.clear()
    for (const { callback } of this.queued.splice(0)) if (callback) process.nextTick(callback, err)
    this.stream.destroy()
    this.settle(err)
    this.emit('close', err)
  }
}
