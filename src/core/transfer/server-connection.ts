import { RecordDeadline } from '../trust/record-deadline.js'
import type { Slot, SlotUse } from './admission.js'
import { drained, writeAnswer } from './answer-write.js'
import { badFrameAnswer } from './bad-frame.js'
import type { BudgetAccount } from './budget.js'
import type { Channel, ConnectionServices } from './connection-services.js'
import { encodeFrame, encodeHeader, FrameDecoder } from './framing.js'
import { GracefulEnd } from './graceful-end.js'
import { ProgressDeadline } from './progress-deadline.js'
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
 *   - no progress for `idleTimeoutMs` → close (progress-deadline.ts: bytes
 *     received, a slice of an answer handed to the kernel, or while ending,
 *     the kernel's unsent bytes going down; this is also the write deadline:
 *     a client reading 1 byte/s stalls the write and is cut);
 *   - a frame begun but not finished within `frameTimeoutMs` → close, so a
 *     client sending one byte every few seconds (slowloris) cannot hold a
 *     connection by staying just short of the idle timeout;
 *   - the client ends its half (FIN) → every request received is answered,
 *     then ours ends (`finish`; a frame left unfinished is dropped) once the
 *     kernel has sent every answer (graceful-end.ts).
 * A frame that cannot be decoded (bad JSON, header over the limit, bad size)
 * is answered with its error after the responses already due, then the
 * connection is closed: the stream has lost its framing.
 *
 * Every way a connection ends (the socket closes or is reset, destroy(), a
 * timeout, the server closing) goes through `teardown`, which closes the
 * socket first (no write reads a buffer after that; a reset unless the
 * kernel holds nothing unsent for it, so no orphaned socket keeps our
 * answers) and
 * then disposes every job it owns, read ahead or written; jobs still
 * reading release their resources when the read ends.
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
  /** A frame begun must be whole within frameTimeoutMs of its first byte, while we read (as an encrypted record must). */
  private readonly frameDeadline: RecordDeadline
  private readonly openedAt = performance.now()
  /** A complete request has arrived. */
  private asked = false
  /** When it last asked, or an answer last went into the kernel. */
  private lastActive = this.openedAt
  /** It was given a manifest, a chunk or a place in the upload line (admission.ts: one never given any makes room first). */
  private given = false
  private readonly deadline: ProgressDeadline
  private readonly ending: GracefulEnd
  private readonly progress = (): void => this.deadline.progress()

  constructor(
    private readonly socket: Channel,
    private readonly services: ConnectionServices,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`
    this.decoder = new FrameDecoder({ maxHeaderBytes: services.limits.maxHeaderBytes, maxBodyBytes: 0 })
    this.account = services.openAccount(() => this.trim())
    this.deadline = new ProgressDeadline(services.limits.idleTimeoutMs, () => this.idle())
    this.frameDeadline = new RecordDeadline(services.limits.frameTimeoutMs, () => {
      services.counters.error('E_TIMEOUT')
      services.log.info({ remote: this.remote }, 'frame not completed in time; closing the connection')
      this.teardown()
    })
    this.ending = new GracefulEnd(socket, services.unsent, {
      progress: this.progress,
      delivered: () => this.finished?.(),
    })
    socket.on('data', (segment: Buffer) => this.onData(segment))
    socket.on('error', (err) => services.log.debug({ remote: this.remote, err: err.message }, 'socket error'))
    socket.on('close', () => this.teardown())
    // Every request is in: each is answered, in order, then our half ends once the kernel sent them. The idle timeout
    // still bounds it (one that ends and never reads is cut as one that never reads); it keeps its slot until it closes.
    socket.on('end', () => void this.finish())
    services.log.info({ remote: this.remote }, 'connection')
  }

  /**
   * Stop reading; resolves when every request received so far has been answered, the kernel sent every answer
   * and our half ended, or the connection is gone (where the kernel cannot be asked: once it is gone).
   */
  finish(): Promise<void> {
    if (this.state === 'closed' || this.ending.settled) return Promise.resolve()
    this.state = 'finishing'
    this.socket.pause()
    this.frameDeadline.stop()
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

  /** The peer's static key, once its encrypted session is established (undefined: plain, or not yet). */
  get peerKey(): Buffer | undefined {
    return this.socket.remotePublicKey
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

  /** The idle timeout expired: unless the kernel's unsent bytes show a slow reader (graceful-end.ts), it is closed. */
  private idle(): void {
    this.ending.idle((verdict) => {
      if (this.closed) return
      if (verdict === 'progress') this.deadline.progress()
      // Our half ended with everything sent: nothing left to keep it for (the reading that showed it was progress).
      if (this.deadline.renewed && !(verdict === 'close' && this.ending.settled)) {
        this.deadline.rearm()
        return
      }
      this.services.log.info({ remote: this.remote }, 'idle connection closed')
      this.teardown(verdict === 'close')
    })
  }

  private onData(segment: Buffer): void {
    this.deadline.progress()
    if (this.state !== 'open') return
    try {
      for (const frame of this.decoder.push(segment)) {
        this.asked = true
        this.lastActive = performance.now()
        this.services.counters.request()
        this.readAhead.add({ header: frame.header, own: false })
      }
      if (this.decoder.failure) throw this.decoder.failure // after the good frames that preceded it
      this.frameDeadline.held(this.decoder.buffered > 0)
    } catch (err) {
      const answer = badFrameAnswer(err, this.services, this.remote)
      this.state = 'finishing'
      this.socket.pause()
      this.frameDeadline.stop()
      this.readAhead.add(answer)
    }
    this.fill()
  }

  private fill(): void {
    if (this.state === 'closed') return
    this.readAhead.fill(this.stalled)
    if (this.state === 'open') {
      // While we do not read, a half-received frame is our doing, not the client's: no deadline.
      const reading = this.readAhead.unanswered < this.services.limits.maxInFlight
      if (reading) this.socket.resume()
      else this.socket.pause()
      this.frameDeadline.readingNow(reading)
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
        const full = this.write(job)
        if (full === undefined) continue
        this.stalled = true
        this.services.stalls.stalled(this, job.body?.length ?? 0)
        await full
        this.services.stalls.resumed(this)
        this.stalled = false
        this.fill()
      }
    } finally {
      this.pumping = false
    }
    this.checkFinished()
  }

  /** Hands the answer to the socket; undefined, or what to wait for before the next (the socket is full). */
  private write(job: ResponseJob): Promise<void> | undefined {
    const header = job.header!
    const body = job.body
    if (!job.request.own) this.services.counters.answered(header, body?.length ?? 0) // a bad frame was counted when it came
    if (body === undefined) {
      job.dispose()
      this.lastActive = performance.now()
      // A "not now" (its place in the upload slots' line) is for a chunk we have: that peer waits its turn here.
      if (header.type === 'error' && header.retryMs !== undefined) this.given = true
      return this.socket.write(encodeFrame(header), this.progress) ? undefined : drained(this.socket)
    }
    if (header.type === 'chunk') {
      this.served++
      this.bytes += body.length
    }
    this.given = true // a manifest or a chunk: of use to it
    this.inSocket.add(job)
    job.written()
    return writeAnswer(this.socket, encodeHeader(header), body, {
      progress: this.progress,
      alive: () => !this.closed,
      sent: () => {
        // The body is in the kernel (or the socket is gone): its buffer and budget go back.
        this.inSocket.delete(job)
        job.dispose()
        this.lastActive = performance.now()
        this.deadline.progress()
        this.checkFinished()
      },
    })
  }

  private get closed(): boolean {
    return this.state === 'closed'
  }

  private checkFinished(): void {
    if (this.state !== 'finishing' || this.readAhead.unanswered > 0 || this.inSocket.size > 0) return
    this.ending.begin()
  }

  /**
   * The one way a connection ends: close the socket, then release everything it owns. With a reset (the kernel drops
   * what it holds rather than keep it orphaned) unless it holds nothing unsent (`nothingHeld`) or our half ended
   * (once it sent everything, on Linux; libuv cannot reset a socket while its shutdown is pending).
   */
  private teardown(nothingHeld = false): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.frameDeadline.stop()
    this.deadline.stop()
    this.ending.close()
    this.services.stalls.resumed(this)
    // The descriptor is closed now: no pending write reads a buffer again.
    if (nothingHeld || this.ending.ended) this.socket.destroy()
    else this.socket.resetAndDestroy()
    this.readAhead.close()
    for (const job of this.inSocket) job.dispose()
    this.inSocket.clear()
    this.account.close()
    this.finished?.()
    this.services.log.info({ remote: this.remote, chunks: this.served, bytes: this.bytes }, 'connection closed')
  }
}
