import type { Logger } from '../log.js'
import type { ConnectOptions } from './client-connect.js'

/** What a client (client.ts) is given: what making its connection needs (client-connect.ts), its limits, its bodies. */

export interface PeerClientOptions extends ConnectOptions {
  requestTimeoutMs?: number
  maxHeaderBytes?: number
  /** No body larger than this, whatever was asked (default: the largest chunk, 64 MiB). */
  maxBodyBytes?: number
  /**
   * Where chunk bodies are assembled, their size already checked (the downloader passes its pooled chunk
   * buffers). A body handed out by a fetch is the caller's; one the connection failed while assembling
   * goes back through `give`, once.
   */
  bodies?: BodySource
  log?: Logger
}

/** Buffers for chunk bodies: `take` one of exactly `size` bytes, `give` back one never handed out. */
export interface BodySource {
  take(size: number): Buffer
  give(body: Buffer): void
}
