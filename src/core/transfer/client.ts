import { type Socket, connect } from 'node:net'
import { P2PError, hasCode } from '../errors.js'
import { type Logger, silentLogger } from '../log.js'
import { DEFAULT_MAX_HEADER_BYTES } from '../constants.js'
import { type Frame, FrameDecoder, encodeFrame } from './framing.js'
import { errorFromResponse, parseResponse } from './messages.js'

/**
 * The client side of the transfer protocol: one persistent TCP connection to
 * a peer, any number of pipelined requests, responses matched in order.
 *
 * A server error frame rejects only its request (with the server's code) and
 * the connection stays usable. Anything else wrong — a response that does
 * not match the request at the head of the queue, a bad frame, a body over
 * the limit, a timeout, a socket error — rejects every pending request and
 * closes the connection: after that, the byte stream cannot be trusted.
 * The request timeout runs from when a request reaches the head of the queue
 * (its response is the next one due) until its body has fully arrived.
 */

export interface PeerClientOptions {
  host: string
  port: number
  connectTimeoutMs?: number
  requestTimeoutMs?: number
  maxHeaderBytes?: number
  maxBodyBytes?: number
  /** Where response bodies are assembled (the downloader passes pooled shared memory). */
  allocateBody?: (size: number) => Buffer
  log?: Logger
}

/** Headers and the first bytes of a body land here; the rest of a body is read straight into it. */
const READ_BUFFER_BYTES = 16 * 1024

interface Pending {
  type: 'manifest' | 'chunk'
  id: string
  index: number
  resolve: (body: Buffer) => void
  reject: (err: P2PError) => void
}

export class PeerClient {
  private readonly socket: Socket
  private readonly decoder: FrameDecoder
  private readonly queue: Pending[] = []
  private readonly requestTimeoutMs: number
  private readonly closeListeners: Array<(err?: P2PError) => void> = []
  private timer: NodeJS.Timeout | undefined
  private closedWith: P2PError | undefined
  private isClosed = false
  private corked = false
  private readonly label: string
  private readonly log: Logger

  private constructor(socket: Socket, options: PeerClientOptions) {
    this.socket = socket
    this.label = `${options.host}:${options.port}`
    this.log = options.log ?? silentLogger()
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000
    // Bodies go to `allocateBody` buffers, never views of a read buffer (which is reused).
    this.decoder = new FrameDecoder({
      maxHeaderBytes: options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES, maxBodyBytes: options.maxBodyBytes ?? 64 * 1024 * 1024,
      allocate: options.allocateBody ?? ((size) => Buffer.allocUnsafe(size)),
    })
    socket.on('error', (err) => this.fail(new P2PError('E_CLOSED', `connection to ${this.label} failed: ${err.message}`)))
    socket.on('close', () => this.fail(new P2PError('E_CLOSED', `connection to ${this.label} closed`)))
  }

  static connect(options: PeerClientOptions, signal?: AbortSignal): Promise<PeerClient> {
    const timeoutMs = options.connectTimeoutMs ?? 5000
    return new Promise((resolve, reject) => {
      signal?.throwIfAborted()
      // Reads never land in fresh memory: a fresh buffer per read (Node's default) costs a page fault
      // per 4 KiB on this kind of VM, and was the single largest cost of a download (3 s → 0.7 s per
      // GiB). Body bytes are read straight into the (pooled) body being assembled, so the kernel's copy
      // is the only one; headers, and the start of a body read along with its header, go through one
      // reused buffer, from which the decoder copies what it keeps.
      let client: PeerClient | undefined
      const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES)
      const socket = connect({
        host: options.host, port: options.port, noDelay: true,
        onread: {
          buffer: () => client?.decoder.bodyWindow() ?? readBuffer,
          callback: (bytes, into) => {
            if (into === readBuffer) client?.onData(readBuffer.subarray(0, bytes))
            else client?.onFrames(() => client!.decoder.filledDirectly(bytes))
            return true
          },
        },
      })
      const done = (err?: P2PError): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        socket.off('error', onError)
        if (err) {
          socket.destroy()
          reject(err)
        } else {
          client = new PeerClient(socket, options)
          resolve(client)
        }
      }
      const onError = (err: NodeJS.ErrnoException): void => done(new P2PError('E_CONNECT', `cannot connect to ${options.host}:${options.port}: ${err.code ?? err.message}`))
      const onAbort = (): void => done(signal!.reason as P2PError)
      const timer = setTimeout(() => done(new P2PError('E_TIMEOUT', `connecting to ${options.host}:${options.port} took over ${timeoutMs} ms`)), timeoutMs)
      socket.once('error', onError)
      socket.once('connect', () => done())
      signal?.addEventListener('abort', onAbort, { once: true })
    })
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

  fetchManifest(id: string): Promise<Buffer> {
    return this.request({ type: 'manifest', id, index: -1 })
  }

  fetchChunk(id: string, index: number): Promise<Buffer> {
    return this.request({ type: 'chunk', id, index })
  }

  close(): void {
    this.fail(new P2PError('E_CLOSED', `connection to ${this.label} closed by us`))
  }

  private request(r: Omit<Pending, 'resolve' | 'reject'>): Promise<Buffer> {
    if (this.isClosed) return Promise.reject(this.closedWith ?? new P2PError('E_CLOSED', `connection to ${this.label} is closed`))
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
      this.socket.write(encodeFrame(r.type === 'chunk' ? { type: 'chunk', id: r.id, index: r.index } : { type: 'manifest', id: r.id }))
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
      this.fail(hasCode(err) ? err : new P2PError('E_BAD_FRAME', String(err)))
      return
    }
    for (const frame of frames) {
      if (this.isClosed) return
      this.onFrame(frame)
    }
    if (this.decoder.failure) this.fail(this.decoder.failure)
  }

  private onFrame(frame: Frame): void {
    const head = this.queue[0]
    if (!head) {
      this.fail(new P2PError('E_BAD_FRAME', `${this.label} sent a response nobody asked for`))
      return
    }
    let response
    try {
      response = parseResponse(frame.header)
    } catch (err) {
      this.fail(err as P2PError)
      return
    }
    this.queue.shift()
    this.armTimer()
    if (response.type === 'error') {
      head.reject(errorFromResponse(response))
      return
    }
    const matches = response.type === head.type && response.id === head.id && (response.type === 'manifest' || response.index === head.index)
    if (!matches || frame.body === undefined) {
      const err = new P2PError('E_BAD_FRAME', `${this.label} answered ${response.type} ${response.id.slice(0, 8)} out of order`)
      head.reject(err)
      this.fail(err)
      return
    }
    head.resolve(frame.body)
  }

  private fail(err: P2PError): void {
    if (this.isClosed) return
    this.isClosed = true
    this.closedWith = err
    clearTimeout(this.timer)
    this.socket.destroy()
    const pending = this.queue.splice(0)
    for (const p of pending) p.reject(err)
    if (pending.length > 0) this.log.debug({ peer: this.label, code: err.code, pending: pending.length, err: err.message }, 'connection failed')
    for (const listener of this.closeListeners.splice(0)) listener(err)
  }
}
