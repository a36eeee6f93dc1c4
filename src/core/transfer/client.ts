import type { Socket } from 'node:net'
import { DEFAULT_MAX_HEADER_BYTES, DEFAULT_REQUEST_TIMEOUT_MS, MAX_CHUNK_SIZE } from '../constants.js'
import type { DhtSession } from '../dht/session.js'
import { P2PError } from '../errors.js'
import { type Logger, silentLogger } from '../log.js'
import { formatPeerId } from '../trust/peer-id.js'
import type { SecureSocket } from '../trust/secure-socket.js'
import { isRefusedUs } from './allow-refusal.js'
import { type ClientReader, connectPlain, connectSecure, sessionReady } from './client-connect.js'
import type { BodySource, PeerClientOptions } from './client-options.js'
import type { Header } from './frame-header.js'
import { encodeFrame, type Frame, FrameDecoder } from './framing.js'
import { errorFromResponse, type Response } from './messages.js'
import { type AskedFor, asViolation, checkResponse } from './response-check.js'

export { isCollateral, isViolation } from './response-check.js'

/**
 * The client side of the transfer protocol: one persistent TCP connection to
 * a peer, any number of pipelined requests, responses matched in order.
 *
 * The client knows what it asked for: a chunk request carries the chunk's
 * length (from the manifest), a manifest request the largest manifest
 * accepted. Every response header is checked against the request at the
 * head of the queue — type, id, index, and its declared body size — before
 * a byte of its body is allocated or read, so a peer's claim never decides
 * what we allocate. Chunk bodies go to `bodies`; manifest bodies are
 * assembled as their bytes arrive.
 *
 * A server error frame rejects only its request (with the server's code) and
 * the connection stays usable, but an encrypted peer's E_AUTH, its refusal of
 * our key (allow-refusal.ts), which ends the connection. Anything else wrong — a response that does
 * not match its request, a bad frame, a body of the wrong size, a timeout,
 * a socket error — closes the connection: after that, the byte stream cannot
 * be trusted. The request the bad response answered is rejected with the
 * violation (marked: see `isViolation`), the others pending with E_CLOSED
 * (marked `isCollateral`).
 * The request timeout runs from when a request reaches the head of the queue
 * (its response is the next one due) until its body has fully arrived.
 *
 * The header checks themselves are pure (response-check.ts); making the
 * connection (plain, encrypted, or a DHT session) is client-connect.ts, which
 * hands it over once ready. From then on the request queue, the reads
 * straight into bodies and the one failure path (`fail`) share one
 * connection's state, here, so `fail` sees everything it must reject and
 * release.
 */

/** What a client needs of its byte stream: a net.Socket (plain) or a SecureSocket (encrypted). */
type ClientChannel = Pick<Socket, 'write' | 'cork' | 'uncork' | 'destroy'> | SecureSocket | DhtSession

interface Pending extends AskedFor {
  resolve: (body: Buffer) => void
  reject: (err: P2PError) => void
}

export class PeerClient {
  private readonly socket: ClientChannel
  private readonly decoder: FrameDecoder
  /** Where the connection's bytes go: straight into the body being assembled when one is, else to `onData`. */
  private readonly reader: ClientReader = {
    window: () => this.decoder.bodyWindow(),
    filled: (n) => {
      this.received += n
      this.onFrames(() => this.decoder.filledDirectly(n))
    },
    data: (view) => {
      this.received += view.byteLength
      this.onData(view)
    },
  }
  private readonly queue: Pending[] = []
  /** Responses whose headers passed `checkResponse`, in order, until their frame is complete. */
  private readonly checked: Response[] = []
  private readonly requestTimeoutMs: number
  private readonly maxBodyBytes: number
  private readonly bodies: BodySource | undefined
  private readonly closeListeners: Array<(err?: P2PError) => void> = []
  private timer: NodeJS.Timeout | undefined
  private received = 0
  private closedWith: P2PError | undefined
  private isClosed = false
  private corked = false
  private readonly label: string
  private readonly log: Logger
  /** The peer ID the encrypted transport reached (undefined: plain). */
  readonly remotePeerId: string | undefined

  private constructor(socket: Socket | SecureSocket | DhtSession, options: PeerClientOptions) {
    this.socket = socket
    this.label = `${options.host}:${options.port}`
    this.log = options.log ?? silentLogger()
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    this.maxBodyBytes = options.maxBodyBytes ?? MAX_CHUNK_SIZE
    this.bodies = options.bodies
    const takeChunk = (size: number): Buffer => this.bodies?.take(size) ?? Buffer.allocUnsafe(size)
    // Bodies never are views of a read buffer (which is reused): chunks go to `allocateBody`, the rest to
    // the decoder's own buffers, which grow as bytes arrive.
    this.decoder = new FrameDecoder({
      maxHeaderBytes: options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
      maxBodyBytes: this.maxBodyBytes,
      checkHeader: (header, size) => this.checkResponse(header, size),
      allocate: (size) => (this.checked.at(-1)?.type === 'chunk' ? takeChunk(size) : undefined),
    })
    if ('setReader' in socket) {
      this.remotePeerId = formatPeerId(socket.remotePublicKey!)
      // Records are opened straight into the body being assembled when one is; the rest (headers, a body's
      // start) comes as views of the record buffer, copied by the decoder like plain reads.
      socket.setReader(this.reader)
      socket.on('data', this.reader.data)
      socket.on('close', (err?: P2PError) =>
        this.fail(err ?? new P2PError('E_CLOSED', `connection to ${this.label} closed`)),
      )
      return
    }
    this.remotePeerId = undefined
    socket.on('error', (err) =>
      this.fail(new P2PError('E_CLOSED', `connection to ${this.label} failed: ${err.message}`)),
    )
    socket.on('close', () => this.fail(new P2PError('E_CLOSED', `connection to ${this.label} closed`)))
  }

  static connect(options: PeerClientOptions, signal?: AbortSignal): Promise<PeerClient> {
    if (options.secure)
      return connectSecure(options, options.secure, signal, (secure, early) =>
        PeerClient.onSession(secure, options, early),
      )
    return connectPlain(options, signal, (socket, readInto) => {
      const client = new PeerClient(socket, options)
      readInto(client.reader)
      return client
    })
  }

  /** A client over a session made through the DHT (download/dht-peers.ts dials it, within its own deadline). */
  static overSession(session: Promise<DhtSession>, options: PeerClientOptions): Promise<PeerClient> {
    return sessionReady(session, (s, early) => PeerClient.onSession(s, options, early))
  }

  /** The client on a session just ready, given first what arrived before it listened (a busy server's E_BUSY). */
  private static onSession(
    session: SecureSocket | DhtSession,
    options: PeerClientOptions,
    early: Buffer[],
  ): PeerClient {
    const client = new PeerClient(session, options)
    for (const bytes of early) if (!client.isClosed) client.onData(bytes)
    // The peer's refusal of our key (allow-refusal.ts) came before the client listened (a DHT session's bytes may):
    // the connect fails on it, as on a refusal in the handshake. Later, it closes the client (onClose) and fails its
    // requests.
    if (isRefusedUs(client.closedWith)) throw client.closedWith!
    return client
  }

  /** Bytes read from the peer so far (a sign of life, whatever they are). */
  get bytesReceived(): number {
    return this.received
  }

  get inFlight(): number {
    return this.queue.length
  }

  get closed(): boolean {
    return this.isClosed
  }

  onClose(listener: (err?: P2PError) => void): void {
    if (this.isClosed) listener(this.closedWith)
    else this.closeListeners.push(listener)
  }

  /** The manifest's exact bytes (checked by the caller against the id); a larger one is refused unread. */
  fetchManifest(id: string, maxBytes = this.maxBodyBytes): Promise<Buffer> {
    return this.request({
      type: 'manifest',
      id,
      index: -1,
      size: undefined,
      maxSize: Math.min(maxBytes, this.maxBodyBytes),
    })
  }

  /** Chunk `index`; with `size` (its length in the manifest), a response declaring any other size is refused unread. */
  fetchChunk(id: string, index: number, size?: number): Promise<Buffer> {
    return this.request({ type: 'chunk', id, index, size, maxSize: this.maxBodyBytes })
  }

  close(): void {
    this.fail(new P2PError('E_CLOSED', `connection to ${this.label} closed by us`))
  }

  private request(r: Omit<Pending, 'resolve' | 'reject'>): Promise<Buffer> {
    if (this.isClosed)
      return Promise.reject(this.closedWith ?? new P2PError('E_CLOSED', `connection to ${this.label} is closed`))
    return new Promise<Buffer>((resolve, reject) => {
      this.queue.push({ ...r, resolve, reject })
      if (this.queue.length === 1) this.armTimer()
      // Requests made in one tick (a scheduler filling a window) leave in one write.
      if (!this.corked) {
        this.corked = true
        this.socket.cork()
        process.nextTick(() => {
          this.corked = false
          this.socket.uncork()
        })
      }
      this.socket.write(
        encodeFrame(r.type === 'chunk' ? { type: 'chunk', id: r.id, index: r.index } : { type: 'manifest', id: r.id }),
      )
    })
  }

  private armTimer(): void {
    clearTimeout(this.timer)
    if (this.queue.length === 0) return
    this.timer = setTimeout(() => {
      this.fail(new P2PError('E_TIMEOUT', `${this.label} did not answer within ${this.requestTimeoutMs} ms`))
    }, this.requestTimeoutMs)
  }

  /** Bytes just read (a view of the reused read buffer: valid only during this call). */
  private onData(segment: Buffer): void {
    this.onFrames(() => this.decoder.push(segment))
  }

  private onFrames(decode: () => Frame[]): void {
    let frames: Frame[]
    try {
      frames = decode()
    } catch (err) {
      this.fail(asViolation(err))
      return
    }
    for (const frame of frames) {
      if (this.isClosed) return
      this.onFrame(frame)
    }
    if (this.decoder.failure) this.fail(asViolation(this.decoder.failure))
  }

  /** A response header, before its body, checked against the request it is due for (response-check.ts). */
  private checkResponse(header: Header, size: number | undefined): void {
    this.checked.push(checkResponse(this.label, this.queue[this.checked.length], header, size, this.remotePeerId))
  }

  private onFrame(frame: Frame): void {
    const head = this.queue.shift()!
    const response = this.checked.shift()!
    this.armTimer()
    if (response.type === 'error') head.reject(errorFromResponse(response))
    else head.resolve(frame.body!)
  }

  /**
   * Close for good. The request at the head of the queue gets `err` (a
   * violation is what its response did); the others pending get E_CLOSED,
   * marked collateral: they did nothing wrong but wait behind it.
   */
  private fail(err: P2PError): void {
    if (this.isClosed) return
    this.isClosed = true
    this.closedWith = err
    clearTimeout(this.timer)
    // destroy() closes the handle at once, so no read lands in the body after it (Node's onread asks for the
    // next buffer at the end of each read, so until then the handle may hold a window into it).
    // An encrypted session is told why, so that its other listeners learn it too (a DHT key that broke the protocol
    // is dropped by the download's DHT peers: dht-peers.ts).
    if ('setReader' in this.socket) this.socket.destroy(err)
    else this.socket.destroy()
    const unfinished = this.decoder.abandonBody()
    if (unfinished !== undefined) this.bodies?.give(unfinished)
    const pending = this.queue.splice(0)
    this.checked.length = 0
    const dropped = new P2PError('E_CLOSED', `connection to ${this.label} dropped: ${err.message}`, {
      collateral: true,
    })
    for (const [i, p] of pending.entries()) p.reject(i === 0 ? err : dropped)
    if (err.code === 'E_TAMPERED' || err.code === 'E_AUTH')
      this.log.warn(
        { peer: this.label, code: err.code, pending: pending.length, err: err.message },
        'connection closed',
      )
    else if (pending.length > 0)
      this.log.debug(
        { peer: this.label, code: err.code, pending: pending.length, err: err.message },
        'connection failed',
      )
    for (const listener of this.closeListeners.splice(0)) listener(err)
  }
}
