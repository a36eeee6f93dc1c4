import { createHash } from 'node:crypto'

/**
 * One SHA-256 over pieces given in order. Each update's promise settles once
 * the piece is in: the caller keeps the piece's bytes unchanged until then.
 * `digest` ends the stream (nothing may follow it); call it however the
 * caller's work ended, so the stream does not outlive the work.
 */
export interface HashStream {
  update(data: Uint8Array): Promise<void>
  digest(): Promise<string>
}

/** A HashStream on the calling thread (small pieces, where a round trip to a hash thread costs more). */
export function streamHere(): HashStream {
  const hash = createHash('sha256')
  return {
    update: (data) => {
      hash.update(data)
      return Promise.resolve()
    },
    digest: () => Promise.resolve(hash.digest('hex')),
  }
}
