import { hasCode, P2PError } from '../errors.js'
import type { Slot, SlotUse } from './admission.js'
import type { BudgetAccount } from './budget.js'
import type { Channel, ConnectionServices } from './connection-services.js'
import { encodeFrame, encodeHeader, FrameDecoder } from './framing.js'
import { heldBackFields } from './log-gate.js'
import { errorHeader } from './messages.js'
import { ReadAhead } from './read-ahead.js'
import { type Pending, ResponseJob } from './response-job.js'
import type { Evictable } from './stalled-sockets.js'

/**
 * One client connection of the chunk server. Requests are answered strictly
 * in order; up to PREFETCH of them are prepared (read and verified) ahead of
 * the one being written (`ReadAhead`), within the connection's share of the
 * server's byte budget (which counts read-ahead: a response handed to the
 * socket leaves it). Flow control:
 *   - more than `maxInFlight` requests received and unanswered → stop reading
 *     the socket (TCP pushes back on the client) until some are answered;
 *   - the socket's write buffer full → wait for 'drain' before the next
 *     response and read nothing ahead meanwhile, so a client that does not
 *     read holds one response in the socket, its earlier read-ahead is
 *     given back as soon as others need the budget (`trim`), and it is closed
 *     first when stalled answers pin too much memory (`StalledSockets`);
 *   - nothing read or written for `idleTimeoutMs` → close (this is also the
 *     write deadline: a client reading 1 byte/s stalls the write and is cut);
 *   - a frame begun but not finished within `frameTimeoutMs` → close, so a
 *     client sending one byte every few seconds (slowloris) cannot hold a
 *     connection by staying just short of the idle timeout;
 *   - the client ends its half (FIN) → ours ends too (the socket is not
 *     half open: chunk-server.ts says why); answers not yet written are
 *     dropped.
 * A frame that cannot be decoded (bad JSON, header over the limit, bad size)
 * is answered with its error after the responses already due, then the
 * connection is closed: the stream has lost its framing.
 *
 * Every way a connection ends (the socket closes or is reset, destroy(), a
 * timeout, the server closing) goes through `teardown`, which closes the
 * socket first (no write reads a buffer after that) and then disposes every
 * job it owns, read ahead or written; jobs still reading release their
 * resources when the read ends.
 */

export class ServerConnection implements Evictable, Slot {
  private readonly decoder: FrameDecoder
  private readonly account: BudgetAccount
  /** Decoded, and being prepared or ready, in request order (read-ahead.ts). */
  private readonly readAhead = new ReadAhead((request) => this.startAnswer(request))
  /** Written; their bytes are not all in the kernel yet. */
  private readonly inSocket = new Set<ResponseJob>()
  private state: 'open' | 'finishing' | 'closed' = 'open'
  private pumping = false
  /** Waiting for the socket to drain: nothing is read ahead, and all read-ahead may be given back. */
  private stalled = false
  private served = 0
  private bytes = 0
  private readonly remote: string
  private finished: (() => void) | undefined
  private finishedPromise: Promise<void> | undefined
  /** The socket's end was asked for (once: the pump, finish() and write callbacks may each find nothing left). */
  private endSent = false
  private frameTimer: NodeJS.Timeout | undefined
  private readonly openedAt = performance.now()
  /** A complete request has arrived. */
  private asked = false
  /** When it last asked, or an answer last went into the kernel. */
  private lastActive = this.openedAt
  /** It was given a manifest, a chunk or a place in the upload line (admission.ts: one never given any makes room first). */
  private given = false

  constructor(
    private readonly socket: Channel,
    private readonly services: ConnectionServices,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`
    this.decoder = new FrameDecoder({ maxHeaderBytes: services.limits.maxHeaderBytes, maxBodyBytes: 0 })
    this.account = services.openAccount(() => this.trim())
    socket.setTimeout(services.limits.idleTimeoutMs, () => {
      services.log.info({ remote: this.remote }, 'idle connection closed')
      this.teardown()
    })
    socket.on('data', (segment: Buffer) => this.onData(segment))
    socket.on('error', (err) => services.log.debug({ remote: this.remote, err: err.message }, 'socket error'))
    socket.on('close', () => this.teardown())
    services.log.info({ remote: this.remote }, 'connection')
  }

  /** Stop reading; resolves when every request received so far has been answered into the kernel (or the connection is gone). */
  finish(): Promise<void> {
    if (this.state === 'closed') return Promise.resolve()
    this.state = 'finishing'
    this.socket.pause()
    this.stopFrameDeadline()
    // One promise however often it is asked: a second call must not orphan the first caller's.
    this.finishedPromise ??= new Promise<void>((resolve) => {
      this.finished = resolve
    })
    this.checkFinished()
    return this.finishedPromise
  }

  destroy(): void {
    this.teardown()
  }

  /** What it holds its slot for, when the server must make room (admission.ts). */
  get use(): SlotUse {
    if (!this.asked) return { silentSince: this.openedAt }
    if (this.readAhead.unanswered + this.inSocket.size > 0) return { busy: true }
    return this.given ? { idleSince: this.lastActive } : { idleSince: this.lastActive, unserved: true }
  }

  reclaim(why: string): void {
    this.services.log.info({ remote: this.remote }, `closed to make room: ${why}`)
    this.teardown()
  }

  evict(): void {
    this.services.log.info(
      { remote: this.remote },
      'closed: stalled longest while stalled answers pinned too much memory',
    )
    this.teardown()
  }

  private onData(segment: Buffer): void {
    if (this.state !== 'open') return
    try {
      for (const frame of this.decoder.push(segment)) {
        this.asked = true
        this.lastActive = performance.now()
        this.services.counters.request()
        this.readAhead.add({ header: frame.header, own: false })
      }
      if (this.decoder.failure) throw this.decoder.failure // after the good frames that preceded it
      this.watchFrameDeadline()
    } catch (err) {
      const e = hasCode(err) ? err : new P2PError('E_BAD_FRAME', String(err))
      this.services.counters.error(e.code)
      // Through the log gate as an important line: every stranger who completes a handshake can send one.
      const line = this.services.warningGate()
      if (line.log)
        this.services.log.warn(
          { remote: this.remote, code: e.code, err: e.message, ...heldBackFields(line) },
          'bad frame; closing the connection',
        )
      this.state = 'finishing'
      this.socket.pause()
      this.stopFrameDeadline()
      this.readAhead.add({ header: errorHeader(e.code, `${e.message}; closing the connection`), own: true })
    }
    this.fill()
  }

  /** A partial frame must be completed within frameTimeoutMs of its first byte. */
  private watchFrameDeadline(): void {
    if (this.decoder.buffered === 0) {
      this.stopFrameDeadline()
      return
    }
    this.frameTimer ??= setTimeout(() => {
      this.services.counters.error('E_TIMEOUT')
      this.services.log.info({ remote: this.remote }, 'frame not completed in time; closing the connection')
      this.teardown()
    }, this.services.limits.frameTimeoutMs)
  }

  private stopFrameDeadline(): void {
    clearTimeout(this.frameTimer)
    this.frameTimer = undefined
  }

  private fill(): void {
    if (this.state === 'closed') return
    this.readAhead.fill(this.stalled)
    if (this.state === 'open') {
      // While we do not read, a half-received frame is our doing, not the client's: no deadline.
      if (this.readAhead.unanswered >= this.services.limits.maxInFlight) {
        this.socket.pause()
        this.stopFrameDeadline()
      } else {
        this.socket.resume()
        this.watchFrameDeadline()
      }
    }
    void this.pump()
  }

  private startAnswer(request: Pending): ResponseJob {
    const job = new ResponseJob(request, this.services, this.account, this.remote)
    // A job that became ready while others wait for the budget may be over this connection's share.
    void job.ready.then(() => this.trim())
    return job
  }

  /** Give back read-ahead while this connection holds more than its share of the budget and others wait. */
  private trim(): void {
    if (this.state === 'closed') return
    this.readAhead.giveBack(
      this.stalled,
      () => this.account.overShare,
      () => this.services.counters.readAheadReturned(),
    )
  }

  private async pump(): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    try {
      while (this.readAhead.next !== undefined && !this.closed) {
        const job = this.readAhead.next
        await job.ready
        if (this.closed) return
        if (this.readAhead.next !== job) continue
        this.readAhead.take()
        this.fill()
        if (job.header === undefined) continue // disposed under us (cannot happen: only a stalled pump's head is shed)
        if (this.write(job)) continue
        this.stalled = true
        this.services.stalls.stalled(this, job.body?.length ?? 0)
        await this.drained()
        this.services.stalls.resumed(this)
        this.stalled = false
        this.fill()
      }
    } finally {
      this.pumping = false
    }
    this.checkFinished()
  }

  private write(job: ResponseJob): boolean {
    const header = job.header!
    const body = job.body
    if (!job.request.own) this.services.counters.answered(header, body?.length ?? 0) // a bad frame was counted when it came
    if (body === undefined) {
      job.dispose()
      this.lastActive = performance.now()
      // A "not now" (its place in the upload slots' line) is for a chunk we have: that peer waits its turn here.
      if (header.type === 'error' && header.retryMs !== undefined) this.given = true
      return this.socket.write(encodeFrame(header))
    }
    if (header.type === 'chunk') {
      this.served++
      this.bytes += body.length
    }
    this.given = true // a manifest or a chunk: of use to it
    this.inSocket.add(job)
    job.written()
    this.socket.cork()
    this.socket.write(encodeHeader(header))
    const ok = this.socket.write(body, () => {
      // The body is in the kernel (or the socket is gone): its buffer and budget go back.
      this.inSocket.delete(job)
      job.dispose()
      this.lastActive = performance.now()
      this.checkFinished()
    })
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

  private get closed(): boolean {
    return this.state === 'closed'
  }

  private checkFinished(): void {
    if (this.state !== 'finishing' || this.readAhead.unanswered > 0 || this.inSocket.size > 0) return
    this.finished?.()
    if (this.endSent) return
    this.endSent = true
    this.socket.end()
  }

  /** The one way a connection ends: close the socket, then release everything it owns. */
  private teardown(): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.stopFrameDeadline()
    this.services.stalls.resumed(this)
    this.socket.destroy() // the descriptor is closed now: no pending write reads a buffer again
    this.readAhead.close()
    for (const job of this.inSocket) job.dispose()
    this.inSocket.clear()
    this.account.close()
    this.finished?.()
    this.services.log.info({ remote: this.remote, chunks: this.served, bytes: this.bytes }, 'connection closed')
  }
}
