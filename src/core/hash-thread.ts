/**
 * Worker thread behind hashing.ts. Messages, processed strictly in order:
 *   { op: 'digest', job, data }            → { job, hex }   one-shot SHA-256
 *   { op: 'update', job, stream, data }    → { job }        feed a running hash
 *   { op: 'final', job, stream }           → { job, hex }   finish and forget it
 * `data` is a Uint8Array over a SharedArrayBuffer (zero-copy) or a transferred copy.
 */
import { createHash, type Hash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'

interface Request {
  op: 'digest' | 'update' | 'final'
  job: number
  stream?: number
  data?: Uint8Array
}

const streams = new Map<number, Hash>()
const port = parentPort!

port.on('message', (m: Request) => {
  try {
    if (m.op === 'digest') {
      port.postMessage({ job: m.job, hex: createHash('sha256').update(m.data!).digest('hex') })
    } else if (m.op === 'update') {
      let hash = streams.get(m.stream!)
      if (!hash) streams.set(m.stream!, (hash = createHash('sha256')))
      hash.update(m.data!)
      port.postMessage({ job: m.job })
    } else {
      const hash = streams.get(m.stream!) ?? createHash('sha256')
      streams.delete(m.stream!)
      port.postMessage({ job: m.job, hex: hash.digest('hex') })
    }
  } catch (err) {
    port.postMessage({ job: m.job, error: (err as Error).message })
  }
})
