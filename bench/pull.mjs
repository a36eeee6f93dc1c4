#!/usr/bin/env node
// Pull every chunk of every file in a chunk store from a running p2p-serve
// over ONE connection with N requests in flight, verifying each chunk's
// SHA-256 on the hash thread. Prints {"bytes":…,"seconds":…}.
//   node bench/pull.mjs --port P [--host 127.0.0.1] --chunks-dir DIR [--in-flight 16]
import { ChunkStore } from '../dist/src/core/store.js'
import { hashWorker } from '../dist/src/core/hashing.js'
import { BufferPool } from '../dist/src/core/buffer-pool.js'
import { PeerClient } from '../dist/src/core/transfer/client.js'

const args = process.argv.slice(2)
const opt = (name, fallback) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback }
const inFlight = Number(opt('in-flight', '16'))
const [entry] = await new ChunkStore(opt('chunks-dir')).scan()
if (!entry) throw new Error('empty chunk store')
const started = performance.now()
const pool = new BufferPool()
const verify = !args.includes('--no-verify')
const client = await PeerClient.connect({ host: opt('host', '127.0.0.1'), port: Number(opt('port')), allocateBody: (size) => pool.take(size) })
let next = 0
let bytes = 0
async function lane() {
  while (next < entry.manifest.chunks.length) {
    const index = next++
    const data = await client.fetchChunk(entry.id, index)
    if (verify && (await hashWorker().digest(data)) !== entry.manifest.chunks[index]) throw new Error(`chunk ${index} failed SHA-256`)
    bytes += data.length
    pool.give(data)
  }
}
await Promise.all(Array.from({ length: inFlight }, lane))
client.close()
console.log(JSON.stringify({ bytes, seconds: (performance.now() - started) / 1000 }))
