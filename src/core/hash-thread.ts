/**
 * Worker thread behind hashing.ts. Messages, processed strictly in order:
 *   { op: 'digest', job, data }            → { job, hex }   one-shot SHA-256
 *   { op: 'store', job, data, path, expect? } → { job, hex }  SHA-256, then (if it equals `expect`, when given)
 *                                                         write `data` to `path` atomically (temp + rename)
 *   { op: 'store', job, data, fd, offset, expect? }      the same, but written at `offset` of the open file `fd`
 * `data` is a Uint8Array over a SharedArrayBuffer (zero-copy) or a transferred copy.
 * Failures answer { job, error, errno }.
 */
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { parentPort } from 'node:worker_threads'
import { TEMP_MARKER } from './constants.js'

interface Request {
  op: 'digest' | 'store'
  job: number
  data?: Uint8Array
  path?: string
  fd?: number
  offset?: number
  expect?: string
}

const port = parentPort!

/**
 * Synchronous writes on this thread, on purpose: the chunk writes of a split
 * or download then neither queue ahead of reads in libuv's thread pool nor
 * take the main thread's time; the second core hashes and writes.
 */
function writeAtomic(path: string, temp: string, data: Uint8Array): void {
  const fd = openSync(temp, 'wx')
  try {
    writeAt(fd, 0, data)
  } catch (err) {
    closeSync(fd)
    unlinkSync(temp)
    throw err
  }
  closeSync(fd)
  try {
    renameSync(temp, path)
  } catch (err) {
    unlinkSync(temp)
    throw err
  }
}

function writeAt(fd: number, offset: number, data: Uint8Array): void {
  for (let done = 0; done < data.byteLength;) done += writeSync(fd, data, done, data.byteLength - done, offset + done)
}

port.on('message', (m: Request) => {
  try {
    const hex = createHash('sha256').update(m.data!).digest('hex')
    if (m.op === 'store' && (m.expect === undefined || m.expect === hex)) {
      if (m.fd !== undefined) writeAt(m.fd, m.offset ?? 0, m.data!)
      else writeAtomic(m.path!, `${m.path!}${TEMP_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`, m.data!)
    }
    port.postMessage({ job: m.job, hex })
  } catch (err) {
    port.postMessage({ job: m.job, error: (err as Error).message, errno: (err as NodeJS.ErrnoException).code, path: (err as NodeJS.ErrnoException).path })
  }
})
