/**
 * Worker thread behind hashing.ts. Messages, processed strictly in order:
 *   { op: 'digest', job, data }                      → { job, hex }   one-shot SHA-256
 *   { op: 'store', job, data, fd, directFd?, offset, expect }
 *                                                  → { job, hex }   SHA-256, then, if it equals `expect`,
 *                                                     `data` written at `offset` of the open file `fd` (or of
 *                                                     `directFd`, the same file opened O_DIRECT: direct-io.ts)
 *   { op: 'create', job, data, path }                → { job, hex }   `path` created (EEXIST if anything is there;
 *                                                                     a link there is not followed), SHA-256,
 *                                                                     `data` written into it
 *   { op: 'update', job, stream, data }              → { job }        `data` fed to running SHA-256 `stream`
 *                                                                     (begun by its first update)
 *   { op: 'final', job, stream }                     → { job, hex }   stream `stream`'s SHA-256, which ends it
 * `data` is a Uint8Array over a SharedArrayBuffer (zero-copy) or transferred memory (the caller's, handed over, or
 * a pooled copy), which goes back with the answer as `copy` (hashing.ts). Failures answer { job, error, errno } (and
 * `copy`).
 */
import { createHash, type Hash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import { writeChunkSync } from './direct-io.js'
import { writeNewFileSync } from './write-fully.js'

interface Request {
  op: 'digest' | 'store' | 'create' | 'update' | 'final'
  job: number
  data?: Uint8Array
  fd?: number
  directFd?: number
  offset?: number
  expect?: string
  stream?: number
  path?: string
}

const port = parentPort!
/** Running hashes, from their first update to their final. */
const streams = new Map<number, Hash>()

// Writes are synchronous on this thread, on purpose: a downloaded chunk is written the moment it is found
// right, by the thread that checked it, and a split's chunk file in one job, without round trips through the
// main thread or libuv's pool (a 1 MiB chunk file through the pool was 18: docs/benchmarks.md).
port.on('message', (m: Request) => {
  const copy = m.data !== undefined && !(m.data.buffer instanceof SharedArrayBuffer) ? m.data : undefined
  const back = copy ? [copy.buffer as ArrayBuffer] : []
  try {
    port.postMessage({ job: m.job, hex: answer(m), copy }, back)
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code
    port.postMessage({ job: m.job, error: (err as Error).message, errno, copy }, back)
  }
})

function answer(m: Request): string | undefined {
  if (m.op === 'update' || m.op === 'final') {
    const hash = streams.get(m.stream!) ?? createHash('sha256')
    streams.set(m.stream!, hash)
    if (m.op === 'update') {
      hash.update(m.data!)
      return undefined
    }
    streams.delete(m.stream!)
    return hash.digest('hex')
  }
  if (m.op === 'create') {
    // Created first: a name already taken is answered before any work (the caller replaces such a file itself).
    writeNewFileSync(m.path!, m.data!)
  }
  const hex = createHash('sha256').update(m.data!).digest('hex')
  if (m.op === 'store' && m.expect === hex) writeChunkSync({ fd: m.fd!, directFd: m.directFd }, m.data!, m.offset!)
  return hex
}
