import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { MAX_DHT_MESSAGE_BYTES } from '../../src/core/dht/bounded-stream.js'
import { MAX_DHT_PEERS } from '../../src/core/download/dht-keys.js'
import { parsePeerId } from '../../src/core/trust/peer-id.js'
import { attackerNode, DHT_ARGS, dhtSeeder, OVERSIZED_MESSAGE_BYTES, strangerServers, testnet } from '../helpers/dht.js'
import { sha256File } from '../helpers/files.js'
import { freeUdpPort, runDownload, seeded } from '../helpers/swarm.js'

// The engine's secret-stream holds a whole message (up to 16 MiB) before it opens it: a stranger's DHT peer sending
// one would have made us hold it, once per connection (bounded-stream.ts). Own loopback testnet only.
describe('DHT peers sending messages longer than any of ours (own loopback testnet)', () => {
  it(`${MAX_DHT_PEERS + 16} keys of a stranger's under the topic, each sending a ${OVERSIZED_MESSAGE_BYTES >> 20} MiB message: each is closed at the message's length and dropped at once, and the download completes, byte-identical`, async (t) => {
    const bootstrap = await testnet(t)
    const { dir, id, sha } = await seeded(t, 600_000)
    const stranger = await strangerServers(t, bootstrap, id, MAX_DHT_PEERS + 16, 'oversized')
    await dhtSeeder(t, join(dir, 'seed'), bootstrap)
    const r = await runDownload(join(dir, 'd'), await freeUdpPort(), [
      '--id',
      id,
      '--wait',
      '60',
      ...DHT_ARGS(bootstrap),
    ])
    assert.equal(r.code, 0, r.stderr + r.log)
    assert.equal(await sha256File(r.result?.path as string), sha)
    assert.ok(stranger.dialled() > 0, 'the strangers were dialled (the test can fail)')
    const log = await readFile(join(dir, 'd', 'logs', 'download.log'), 'utf8')
    assert.match(log, new RegExp(`sent a message of ${OVERSIZED_MESSAGE_BYTES + 17} bytes`))
    assert.match(log, /"noSeeder":"oversized"/, 'dropped at its first failure, not tried 3 times')
  })

  it(`a stranger that dials a seeder and sends a ${OVERSIZED_MESSAGE_BYTES >> 20} MiB message is closed and counted (dht.oversized), and a download still completes, byte-identical`, async (t) => {
    const bootstrap = await testnet(t)
    const { dir, id, sha } = await seeded(t, 600_000)
    const { serve, line } = await dhtSeeder(t, join(dir, 'seed'), bootstrap)
    const attacker = await attackerNode(t, bootstrap)
    const socket = attacker.connect(parsePeerId(line.peerId))
    socket.on('error', () => undefined)
    socket.write(Buffer.alloc(OVERSIZED_MESSAGE_BYTES, 1))
    const closed = await new Promise<boolean>((resolve) => {
      socket.once('close', () => resolve(true))
      setTimeout(resolve, 20_000, false).unref()
    })
    socket.destroy()
    assert.ok(closed, 'the seeder closed the connection')
    const r = await runDownload(join(dir, 'd'), await freeUdpPort(), [
      '--id',
      id,
      '--wait',
      '30',
      ...DHT_ARGS(bootstrap),
    ])
    assert.equal(r.code, 0, r.stderr + r.log)
    assert.equal(await sha256File(r.result?.path as string), sha)
    await serve.stop()
    const stopped = JSON.parse(serve.stdout().trim().split('\n').at(-1)!) as { dht?: { oversized?: number } }
    assert.equal(stopped.dht?.oversized, 1, serve.stdout())
    const log = await readFile(join(dir, 'seed', 'logs', 'serve.log'), 'utf8')
    assert.match(log, /"msg":"DHT connection closed: message too large"/)
    assert.ok(OVERSIZED_MESSAGE_BYTES > MAX_DHT_MESSAGE_BYTES)
  })
})
