import type { Channel } from './connection-services.js'

/**
 * Handing one answer to a connection's channel (server-connection.ts), its
 * header and body in one segment where they fit. A body over
 * WRITE_SLICE_BYTES is handed over a slice at a time, each once the one
 * before is in the kernel, and each is progress for the idle timeout: one
 * write completes only with its last byte, so a client that reads slowly
 * but steadily would be cut however steadily it read a large chunk. (One
 * write per slice: slices written at once would be merged into one write,
 * completing together.)
 */

export const WRITE_SLICE_BYTES = 256 * 1024

export interface AnswerHooks {
  /** A slice (not the last) is in the kernel. */
  progress(): void
  /** The whole body is in the kernel, or the channel failed (called once). */
  sent(): void
  /** Whether the connection still stands (no slice is written after it went). */
  alive(): boolean
}

/** Resolves at the channel's next 'drain', or when it closes. */
export function drained(channel: Channel): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      channel.off('drain', done)
      channel.off('close', done)
      resolve()
    }
    channel.once('drain', done)
    channel.once('close', done)
  })
}

/**
 * Writes `header` and `body`: undefined if the channel has room for the next answer at once, else what to wait for
 * before it (its drain; for a body of several slices, its last slice in the kernel, or the channel's close).
 */
export function writeAnswer(
  channel: Channel,
  header: Buffer,
  body: Buffer,
  hooks: AnswerHooks,
): Promise<void> | undefined {
  channel.cork()
  channel.write(header)
  if (body.length <= WRITE_SLICE_BYTES) {
    const ok = channel.write(body, () => hooks.sent())
    channel.uncork()
    return ok ? undefined : drained(channel)
  }
  const done = new Promise<void>((resolve) => {
    const closed = (): void => resolve() // its last write's callback, failing, gives the job back
    channel.once('close', closed)
    const slice = (at: number): void => {
      const end = Math.min(at + WRITE_SLICE_BYTES, body.length)
      channel.write(body.subarray(at, end), (err) => {
        if (end < body.length && !err && hooks.alive()) {
          hooks.progress()
          slice(end)
          return
        }
        channel.off('close', closed)
        hooks.sent()
        resolve()
      })
    }
    slice(0)
  })
  channel.uncork()
  return done
}
