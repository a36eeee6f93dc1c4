/**
 * Worker thread behind hashing.ts. Messages, processed strictly in order:
 *   { op: 'digest', job, data }                      → { job, hex }   one-shot SHA-256
 *   { op: 'store', job, data, fd, offset, expect }   → { job, hex }   SHA-256, then, if it equals `expect`,
 *                                                     `data` written at `offset` of the open file `fd`
 * `data` is a Uint8Array over a SharedArrayBuffer (zero-copy) or a transferred copy.
 * Failures answer { job, error, errno }.
 */
import { createHash } from 'node:crypto'
import { writeSync } from 'node:fs'
import { parentPort } from 'node:worker_threads'

interface Request {
  op: 'digest' | 'store'
  job: number
  data?: Uint8Array
  fd?: number
  offset?: number
  expect?: string
}

const port = parentPort!

/**
 * Synchronous writes on this thread, on purpose: a downloaded chunk is
 * written the moment it is found right, by the thread that checked it,
 * without a round trip through the main thread or libuv's pool.
 */
function writeAt(fd: number, offset: number, data: Uint8Array): void {
  for (let done = 0; done < data.byteLength; ) done += writeSync(fd, data, done, data.byteLength - done, offset + done)
}

port.on('message', (m: Request) => {
  try {
    const hex = createHash('sha256').update(m.data!).digest('hex')
    if (m.op === 'store' && m.expect === hex) writeAt(m.fd!, m.offset!, m.data!)
    port.postMessage({ job: m.job, hex })
  } catch (err) {
    port.postMessage({ job: m.job, error: (err as Error).message, errno: (err as NodeJS.ErrnoException).code })
  }
})
