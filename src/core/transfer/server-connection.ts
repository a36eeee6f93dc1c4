import type { Socket } from 'node:net'
import { type ErrorCode, P2PError, hasCode } from '../errors.js'
import { chunkLength } from '../manifest.js'
import type { ChunkServer } from './chunk-server.js'
import { type Frame, FrameDecoder, type Header, encodeFrame, encodeHeader } from './framing.js'
import { errorHeader, parseRequest } from './messages.js'

/**
 * One client connection of the chunk server. Requests are answered strictly
 * in order; up to PREFETCH of them are prepared (read and verified) ahead of
 * the one being written, within the server's shared byte budget. Flow
 * control:
 *   - more than `maxInFlight` requests received and unanswered → stop reading
 *     the socket (TCP pushes back on the client) until some are answered;
 *   - the socket's write buffer full → wait for 'drain' before the next
 *     response, so a client that does not read holds at most one response
 *     in memory and stalls nobody else;
 *   - nothing read or written for `idleTimeoutMs` → close (this is also the
 *     write deadline: a client reading 1 byte/s stalls the write and is cut);
 *   - a frame begun but not finished within `frameTimeoutMs` → close, so a
 *     client sending one byte every few seconds (slowloris) cannot hold a
 *     connection by staying just short of the idle timeout.
 * A frame that cannot be decoded (bad JSON, header over the limit, bad size)
 * is answered with its error after the responses already due, then the
 * connection is closed: the stream has lost its framing.
 */

const PREFETCH = 4

interface Prepared {
  header: Header
  body?: Buffer
  release?: () => void
}

export class ServerConnection {
  private readonly decoder: FrameDecoder
  private readonly backlog: Frame[] = []
  private readonly jobs: Array<Promise<Prepared>> = []
  private writing = false
  private closing = false
  private destroyed = false
  private served = 0
  private bytes = 0
  private readonly remote: string
  private finished: (() => void) | undefined
  private frameTimer: NodeJS.Timeout | undefined
  private readonly ownAnswers = new WeakSet<Frame>()

  static refuse(socket: Socket, code: ErrorCode, message: string): void {
    socket.on('error', () => undefined)
    socket.setTimeout(1000, () => socket.destroy())
    socket.end(encodeFrame(errorHeader(code, message)))
  }

  constructor(private readonly socket: Socket, private readonly server: ChunkServer) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`
    this.decoder = new FrameDecoder({ maxHeaderBytes: server.limits.maxHeaderBytes, maxBodyBytes: 0 })
    socket.setTimeout(server.limits.idleTimeoutMs, () => {
      server.log.info({ remote: this.remote }, 'idle connection closed')
      this.destroy()
    })
    socket.on('data', (segment: Buffer) => this.onData(segment))
    socket.on('error', (err) => server.log.debug({ remote: this.remote, err: err.message }, 'socket error'))
    socket.on('close', () => {
      clearTimeout(this.frameTimer)
      this.destroyed = true
      this.finished?.()
      server.log.info({ remote: this.remote, chunks: this.served, bytes: this.bytes }, 'connection closed')
    })
    server.log.info({ remote: this.remote }, 'connection')
  }

  /** Resolves when every request received so far has been answered (or the connection is gone). */
  finish(): Promise<void> {
    this.closing = true
    this.socket.pause()
    if (this.destroyed || (this.jobs.length === 0 && this.backlog.length === 0)) return Promise.resolve()
    return new Promise((resolve) => { this.finished = resolve })
  }

  destroy(): void {
    this.destroyed = true
    this.socket.destroy()
    for (const job of this.jobs.splice(0)) void job.then((p) => p.release?.())
    this.backlog.length = 0
  }

  private onData(segment: Buffer): void {
    if (this.closing) return
    try {
      this.backlog.push(...this.decoder.push(segment))
      if (this.decoder.failure) throw this.decoder.failure // after the good frames that preceded it
      this.watchFrameDeadline()
    } catch (err) {
      const e = hasCode(err) ? err : new P2PError('E_BAD_FRAME', String(err))
      this.server.countError(e.code)
      this.server.log.warn({ remote: this.remote, code: e.code, err: e.message }, 'bad frame; closing the connection')
      this.closing = true
      this.socket.pause()
      const answer: Frame = { header: errorHeader(e.code, `${e.message}; closing the connection`), body: undefined }
      this.ownAnswers.add(answer)
      this.backlog.push(answer)
    }
    this.fill()
  }

  /** A partial frame must be completed within frameTimeoutMs of its first byte. */
  private watchFrameDeadline(): void {
    if (this.decoder.buffered === 0) {
      clearTimeout(this.frameTimer)
      this.frameTimer = undefined
    } else {
      this.frameTimer ??= setTimeout(() => {
        this.server.countError('E_TIMEOUT')
        this.server.log.info({ remote: this.remote }, 'frame not completed in time; closing the connection')
        this.destroy()
      }, this.server.limits.frameTimeoutMs)
    }
  }

  private fill(): void {
    while (this.jobs.length < PREFETCH && this.backlog.length > 0) this.jobs.push(this.prepare(this.backlog.shift()!))
    if (!this.closing) {
      // While we do not read, a half-received frame is our doing, not the client's: no deadline.
      if (this.jobs.length + this.backlog.length >= this.server.limits.maxInFlight) {
        this.socket.pause()
        clearTimeout(this.frameTimer)
        this.frameTimer = undefined
      } else {
        this.socket.resume()
        this.watchFrameDeadline()
      }
    }
    if (!this.writing) void this.writeLoop()
  }

  private async writeLoop(): Promise<void> {
    this.writing = true
    while (this.jobs.length > 0 && !this.destroyed) {
      const prepared = await this.jobs[0]!
      this.jobs.shift()
      if (this.destroyed) {
        prepared.release?.()
        break
      }
      this.fill()
      if (!this.write(prepared)) await this.drained()
    }
    this.writing = false
    if (this.closing && this.jobs.length === 0 && this.backlog.length === 0) {
      this.finished?.()
      if (!this.destroyed) this.socket.end()
    }
  }

  private write(p: Prepared): boolean {
    if (p.body === undefined) return this.socket.write(encodeFrame(p.header))
    this.served++
    this.bytes += p.body.length
    this.socket.cork()
    this.socket.write(encodeHeader(p.header))
    const ok = this.socket.write(p.body, () => p.release?.())
    this.socket.uncork()
    return ok
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done)
        this.socket.off('close', done)
        resolve()
      }
      this.socket.once('drain', done)
      this.socket.once('close', done)
    })
  }

  private async prepare(frame: Frame): Promise<Prepared> {
    const server = this.server
    if (this.ownAnswers.has(frame)) return { header: frame.header } // our answer to a bad frame, in its place in the order
    server.stats.requests++
    try {
      const request = parseRequest(frame.header)
      if (request.type === 'manifest') {
        const { manifestBytes } = await server.entry(request.id)
        return { header: { type: 'manifest', id: request.id, size: manifestBytes.length }, body: manifestBytes }
      }
      const { manifest } = await server.entry(request.id)
      const length = request.index < manifest.chunks.length ? chunkLength(manifest, request.index) : 0
      await server.budget.acquire(length)
      let body: Buffer | undefined
      const release = (): void => {
        server.budget.release(length)
        if (body) server.buffers.give(body)
      }
      try {
        body = await server.readChunk(request.id, request.index)
        server.stats.chunksServed++
        server.stats.bytesServed += body.length
        server.log.debug({ remote: this.remote, id: request.id, index: request.index }, 'chunk')
        return { header: { type: 'chunk', id: request.id, index: request.index, size: body.length }, body, release }
      } catch (err) {
        release()
        throw err
      }
    } catch (err) {
      const e = hasCode(err) ? err : new P2PError('E_INTERNAL', 'internal error')
      if (!hasCode(err)) server.log.error({ err }, 'internal error answering a request')
      server.countError(e.code)
      server.log.debug({ remote: this.remote, code: e.code, err: e.message }, 'request refused')
      return { header: errorHeader(e.code, e.message) }
    }
  }
}
