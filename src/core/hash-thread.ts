/**
 * Worker thread behind hashing.ts. Messages, processed strictly in order:
 *   { op: 'digest', job, data }                      → { job, hex }   one-shot SHA-256
 *   { op: 'store', job, data, fd, directFd?, offset, expect }
 *                                                  → { job, hex }   SHA-256, then, if it equals `expect`,
 *                                                     `data` written at `offset` of the open file `fd` (or of
 *                                                     `directFd`, the same file opened O_DIRECT: direct-io.ts)
 * `data` is a Uint8Array over a SharedArrayBuffer (zero-copy) or transferred memory (the caller's, handed over, or
 * a pooled copy), which goes back with the answer as `copy` (hashing.ts). Failures answer { job, error, errno } (and
 * `copy`).
 */
import { createHash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import { writeChunkSync } from './direct-io.js'

interface Request {
  op: 'digest' | 'store'
  job: number
  data?: Uint8Array
  fd?: number
  directFd?: number
  offset?: number
  expect?: string
}

const port = parentPort!

// Writes are synchronous on this thread, on purpose: a downloaded chunk is written the moment it is found
// right, by the thread that checked it, without a round trip through the main thread or libuv's pool.
port.on('message', (m: Request) => {
  const copy = m.data !== undefined && !(m.data.buffer instanceof SharedArrayBuffer) ? m.data : undefined
  const back = copy ? [copy.buffer as ArrayBuffer] : []
  try {
    const hex = createHash('sha256').update(m.data!).digest('hex')
    if (m.op === 'store' && m.expect === hex) writeChunkSync({ fd: m.fd!, directFd: m.directFd }, m.data!, m.offset!)
    port.postMessage({ job: m.job, hex, copy }, back)
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code
    port.postMessage({ job: m.job, error: (err as Error).message, errno, copy }, back)
  }
})
