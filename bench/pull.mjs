#!/usr/bin/env node
// Pull every chunk of the first file in a chunk store from a running p2p-serve
// over ONE connection, keeping N requests in flight while earlier chunks are
// verified (SHA-256 on the hash threads) beside them; at most --max-buffers
// chunks are held at once. Prints {"bytes":…,"seconds":…}, timed from connect
// to the last chunk verified.
// Speaks the encrypted transport (p2p-serve's default) unless `--transport plain`.
//   node bench/pull.mjs --port P [--host 127.0.0.1] --chunks-dir DIR [--in-flight 16] [--max-buffers 32] [--no-verify] [--transport plain]
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { exitOnHelp, optionReader } from './lib.mjs'

const args = process.argv.slice(2)
exitOnHelp(args, import.meta.url)
// The build is loaded only after --help is answered (it may not be built yet).
const { BufferPool } = await import('../dist/src/core/buffer-pool.js')
const { hashThreads } = await import('../dist/src/core/hash-pool.js')
const { ChunkStore } = await import('../dist/src/core/store.js')
const { PeerClient } = await import('../dist/src/core/transfer/client.js')
const opt = optionReader(args)
const inFlight = Number(opt('in-flight', '16'))
const maxBuffers = Math.max(inFlight, Number(opt('max-buffers', '32')) || 32)
const verify = !args.includes('--no-verify')
const [entry] = await new ChunkStore(opt('chunks-dir')).scan()
if (!entry) throw new Error('empty chunk store')
const started = performance.now()
const pool = new BufferPool()
const client = await PeerClient.connect({
  host: opt('host', '127.0.0.1'),
  port: Number(opt('port')),
  bodies: { take: (size) => pool.take(size), give: (body) => pool.give(body) },
  ...(opt('transport', 'encrypted') === 'plain' ? {} : { secure: { keyPair: NoiseSecretStream.keyPair() } }),
})
const count = entry.manifest.chunks.length
let next = 0
let requests = 0
let held = 0
let done = 0
let bytes = 0
await new Promise((resolve, reject) => {
  const pump = () => {
    if (done === count) return resolve()
    while (requests < inFlight && held < maxBuffers && next < count) {
      const index = next++
      requests++
      held++
      client
        .fetchChunk(entry.id, index)
        .then(async (data) => {
          requests--
          pump() // the next request leaves before this chunk is hashed
          if (verify && (await hashThreads().digest(data)) !== entry.manifest.chunks[index])
            throw new Error(`chunk ${index} failed SHA-256`)
          bytes += data.length
          pool.give(data)
          held--
          done++
          pump()
        })
        .catch(reject)
    }
  }
  pump()
})
client.close()
console.log(JSON.stringify({ bytes, seconds: (performance.now() - started) / 1000 }))
