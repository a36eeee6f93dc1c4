import type { BufferLease } from '../buffer-pool.js'
import { hasCode, P2PError } from '../errors.js'
import { planOf } from '../item.js'
import type { Logger } from '../log.js'
import type { BudgetAccount, BudgetGrant } from './budget.js'
import type { Header } from './frame-header.js'
import { errorHeader, type NotNow, parseRequest } from './messages.js'
import type { CatalogEntry } from './store-catalog.js'

/**
 * One request's answer, from the moment a connection starts preparing it
 * until its bytes are in the kernel. The job is the single owner of the
 * budget grant and pooled buffer behind a chunk, and `dispose()` is their
 * single release:
 *
 *   preparing ─▶ budget ─▶ reading ─▶ ready ─▶ written() ─▶ done
 *        └──────────┴─────────┴─────────┴──── dispose() ─────┘
 *
 * (`written()` gives the grant back when the answer is handed to the socket;
 * the buffer stays leased until the kernel has the bytes.)
 *
 * While the chunk is being read (or hashed) the buffer is in use by the
 * read, so the preparing code owns grant and buffer in local variables and
 * hands them to the job only once they are idle; disposing meanwhile marks
 * the job done and the preparing code releases them itself when the read
 * ends. After the handover the job holds them, and `dispose()` releases what
 * it holds and forgets it: a second dispose finds nothing (from any path:
 * written, closed, reset, timed out, shed). A grant or lease released twice
 * anyway is reported by its issuer and does nothing.
 */

/** What a connection may use to answer requests. */
export interface ChunkResponder {
  /** The entry for an id, or E_NOT_FOUND. */
  entry(id: string): Promise<CatalogEntry>
  /** Verified bytes of a chunk into `into` (exactly its length); nothing keeps `into` afterwards. */
  readChunk(entry: CatalogEntry, index: number, into: Buffer): Promise<void>
}

export interface JobServices {
  responder: ChunkResponder
  buffers: { lease(size: number): BufferLease }
  log: Logger
  /** A chunk may be sent to this connection's peer now (undefined), or it is told "not now" with these (upload-slots.ts). */
  uploadWait(): NotNow | undefined
}

/** A request to answer, or an answer of our own (to a bad frame), in its place in the order. */
export interface Pending {
  header: Header
  own: boolean
}

export type JobPhase = 'preparing' | 'budget' | 'reading' | 'ready' | 'done'

/**
 * Why a job's budget wait ends when it is disposed. Given, so that aborting
 * makes no DOMException of its own: every answer's job is disposed, and
 * those (each capturing a stack) were ~2 % of a server's main thread in a
 * 16-host swarm (docs/benchmarks.md).
 */
const ABANDONED = new P2PError('E_CLOSED', 'request abandoned')

export class ResponseJob {
  private state: JobPhase = 'preparing'
  private response: { header: Header; body: Buffer | undefined } | undefined
  private grant: BudgetGrant | undefined
  private lease: BufferLease | undefined
  /** Ends a wait in the budget's queue; made for that wait only (an abort dispatches an event: 0.9 % of the downloads' main threads at N = 16). */
  private abandon: AbortController | undefined
  /** Settles (never rejects) when the answer is ready or the job is disposed. */
  readonly ready: Promise<void>

  constructor(
    readonly request: Pending,
    services: JobServices,
    account: BudgetAccount,
    remote: string,
  ) {
    this.ready = this.prepare(services, account, remote)
  }

  get phase(): JobPhase {
    return this.state
  }

  /** The answer, once ready. */
  get header(): Header | undefined {
    return this.response?.header
  }

  get body(): Buffer | undefined {
    return this.response?.body
  }

  /** Disposing it now gives back bytes or a place in the budget's queue, and no read is using its buffer. */
  get sheddable(): boolean {
    return this.state === 'preparing' || this.state === 'budget' || this.state === 'ready'
  }

  /**
   * The answer was handed to the socket: its bytes leave the read-ahead
   * budget (a response being written is the socket's, one per connection),
   * while the buffer stays leased until the kernel has them (`dispose`).
   */
  written(): void {
    const grant = this.grant
    this.grant = undefined
    grant?.release()
  }

  /** Release whatever the job holds; safe from every path, any number of times. */
  dispose(): void {
    if (this.state === 'done') return
    if (this.state === 'budget') this.abandon?.abort(ABANDONED) // only a wait in the budget's queue listens
    this.state = 'done'
    const { grant, lease } = this
    this.grant = undefined
    this.lease = undefined
    this.response = undefined
    lease?.release()
    grant?.release()
  }

  private get disposed(): boolean {
    return this.state === 'done'
  }

  private async prepare(services: JobServices, account: BudgetAccount, remote: string): Promise<void> {
    if (this.request.own) return this.answer(this.request.header)
    let grant: BudgetGrant | undefined
    let lease: BufferLease | undefined
    try {
      const request = parseRequest(this.request.header)
      const entry = await services.responder.entry(request.id)
      if (this.disposed) return
      if (request.type === 'manifest')
        return this.answer({ type: 'manifest', id: request.id, size: entry.manifestBytes.length }, entry.manifestBytes)
      const plan = planOf(entry.manifest)
      if (request.index >= plan.chunkCount)
        throw new P2PError(
          'E_BAD_REQUEST',
          `index ${request.index} is out of range: the item has ${plan.chunkCount} chunks`,
        )
      const notNow = services.uploadWait()
      if (notNow)
        return this.answer({
          ...errorHeader('E_BUSY', 'not now: every upload slot is taken; ask other peers, or again after retryMs'),
          retryMs: notNow.retryMs,
          ...(notNow.place !== undefined ? { place: notNow.place } : {}),
        })
      const length = plan.chunkLength(request.index)
      this.state = 'budget'
      this.abandon = new AbortController()
      grant = await account.acquire(length, this.abandon.signal)
      if (this.disposed) return
      this.state = 'reading'
      lease = services.buffers.lease(length)
      await services.responder.readChunk(entry, request.index, lease.buffer)
      if (this.disposed) return
      this.answer({ type: 'chunk', id: request.id, index: request.index, size: length }, lease.buffer)
      this.grant = grant
      this.lease = lease
      grant = undefined
      lease = undefined
      services.log.debug({ remote, id: request.id, index: request.index }, 'chunk')
    } catch (err) {
      if (this.disposed) return
      const e = hasCode(err) ? err : new P2PError('E_INTERNAL', 'internal error')
      if (!hasCode(err)) services.log.error({ err }, 'internal error answering a request')
      services.log.debug({ remote, code: e.code, err: e.message }, 'request refused')
      this.answer(errorHeader(e.code, e.message))
    } finally {
      // Still here only when the job was disposed or failed before the handover: the read is over.
      lease?.release()
      grant?.release()
    }
  }

  private answer(header: Header, body?: Buffer): void {
    if (this.disposed) return
    this.response = { header, body }
    this.state = 'ready'
  }
}
