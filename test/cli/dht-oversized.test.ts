import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import HyperDHT from 'hyperdht'
import { MAX_DHT_MESSAGE_BYTES, MAX_DHT_WRITE_BYTES } from '../../src/core/dht/bounded-stream.js'
import { DHT_HELLO } from '../../src/core/dht/greeting.js'
import { createDhtNode } from '../../src/core/dht/node.js'
import { MAX_HELD_WHILE_PAUSED } from '../../src/core/dht/paused-intake.js'
import { MAX_DHT_PEERS } from '../../src/core/download/dht-keys.js'
import { parsePeerId } from '../../src/core/trust/peer-id.js'
import { onCleanup } from '../helpers/cleanup.js'
import {
  attackerNode,
  DHT_ARGS,
  dhtSeeder,
  downloadThroughDht,
  OVERSIZED_MESSAGE_BYTES,
  strangerServers,
  testnet,
} from '../helpers/dht.js'
import { freeUdpPort, runDownload, seeded } from '../helpers/swarm.js'

/** Resolves with the first error, or 'data' if a message was delivered, or 'nothing' after `ms`. */
function outcome(socket: NodeJS.EventEmitter, ms: number): Promise<(Error & { code?: string }) | 'data' | 'nothing'> {
  return new Promise((resolve) => {
    socket.once('error', resolve)
    socket.once('data', () => resolve('data'))
    setTimeout(resolve, ms, 'nothing').unref()
  })
}

// The engine's secret-stream holds a whole message (up to 16 MiB) before it opens it: a stranger's DHT peer sending
// one would have made us hold it, once per connection (bounded-stream.ts). Own loopback testnet only.
describe('DHT peers sending messages longer than any of ours (own loopback testnet)', () => {
  assert.ok(OVERSIZED_MESSAGE_BYTES > MAX_DHT_MESSAGE_BYTES, 'the strangers send more than the bound')

  it(`${MAX_DHT_PEERS} keys of a stranger's under the topic, each sending a ${OVERSIZED_MESSAGE_BYTES >> 20} MiB message (half of them after a greeting): each is closed at the message's length and dropped at its first failure; then the download completes, byte-identical`, async (t) => {
    const bootstrap = await testnet(t)
    const { dir, id, sha } = await seeded(t, 600_000)
    const mute = await strangerServers(t, bootstrap, id, MAX_DHT_PEERS / 2, 'oversized')
    const greeting = await strangerServers(t, bootstrap, id, MAX_DHT_PEERS / 2, 'greets-oversized')
    const nobody = await freeUdpPort()
    // No seeder yet: the download dials strangers for all of --wait (with a seeder it may finish first).
    const probe = await runDownload(join(dir, 'probe'), nobody, ['--id', id, '--wait', '8', ...DHT_ARGS(bootstrap)])
    assert.equal(probe.code, 4, probe.stderr)
    const failed = (await readFile(join(dir, 'probe', 'logs', 'download.log'), 'utf8'))
      .split('\n')
      .filter((line) => line.includes('"msg":"DHT dial failed"'))
      .map((line) => JSON.parse(line) as { peer: string; failures: number; err: string; noSeeder?: string })
    const oversized = failed.filter((f) => f.noSeeder === 'oversized')
    for (const group of [mute, greeting])
      assert.ok(
        oversized.some((f) => group.peerIds.includes(f.peer)),
        `a key of each kind dropped as oversized: ${JSON.stringify(failed.slice(0, 6))}`,
      )
    for (const f of oversized) {
      assert.equal(f.failures, 1, 'dropped at its first failure, not tried 3 times')
      assert.match(
        f.err,
        new RegExp(`sent a message of ${OVERSIZED_MESSAGE_BYTES + MAX_DHT_MESSAGE_BYTES - MAX_DHT_WRITE_BYTES} bytes`),
      )
    }
    await dhtSeeder(t, join(dir, 'seed'), bootstrap)
    await downloadThroughDht(join(dir, 'd'), bootstrap, ['--id', id, '--wait', '60'], sha)
  })

  it("every stream our DHT node makes is bounded: a dial with no options too, as the engine's own relay dials are", async (t) => {
    const bootstrap = await testnet(t)
    const stranger = await attackerNode(t, bootstrap)
    const keyPair = HyperDHT.keyPair()
    const server = stranger.createServer({}, (socket) => {
      socket.on('error', () => undefined)
      socket.write(Buffer.alloc(OVERSIZED_MESSAGE_BYTES, 1))
    })
    await server.listen(keyPair)
    const ours = await createDhtNode({ bootstrap: bootstrap.split(','), host: '127.0.0.1' })
    onCleanup(t, () => ours.destroy({ force: true }))
    await ours.ready()
    const socket = ours.connect(keyPair.publicKey)
    const result = await outcome(socket, 30_000)
    socket.destroy()
    assert.ok(result instanceof Error && result.code === 'E_TOO_LARGE', String(result))
  })

  it(`a stranger that dials a seeder and sends a ${OVERSIZED_MESSAGE_BYTES >> 20} MiB message is closed and counted (dht.oversized), one that asks it to relay is refused (dht.relayRefused); a download still completes, byte-identical`, async (t) => {
    const bootstrap = await testnet(t)
    const { dir, id, sha } = await seeded(t, 600_000)
    const { serve, line } = await dhtSeeder(t, join(dir, 'seed'), bootstrap)
    const attacker = await attackerNode(t, bootstrap)
    const key = parsePeerId(line.peerId)
    const socket = attacker.connect(key)
    socket.on('error', () => undefined)
    socket.write(Buffer.alloc(OVERSIZED_MESSAGE_BYTES, 1))
    const closed = await new Promise<boolean>((resolve) => {
      socket.once('close', () => resolve(true))
      setTimeout(resolve, 20_000, false).unref()
    })
    socket.destroy()
    assert.ok(closed, 'the seeder closed the connection')
    const relaying = attacker.connect(key, { relayThrough: HyperDHT.keyPair().publicKey })
    const relayed = await outcome(relaying, 20_000)
    relaying.destroy()
    assert.ok(relayed instanceof Error, `refused: ${String(relayed)}`)
    await downloadThroughDht(join(dir, 'd'), bootstrap, ['--id', id, '--wait', '30'], sha)
    await serve.stop()
    const stopped = JSON.parse(serve.stdout().trim().split('\n').at(-1)!) as {
      dht?: { oversized?: number; relayRefused?: number }
    }
    assert.equal(stopped.dht?.oversized, 1, serve.stdout())
    assert.ok((stopped.dht?.relayRefused ?? 0) >= 1, serve.stdout())
    const log = await readFile(join(dir, 'seed', 'logs', 'serve.log'), 'utf8')
    assert.match(log, /"msg":"DHT connection closed: message too large"/)
  })
})

describe('DHT peers that break the protocol after greeting, or keep sending while asked to wait (own loopback testnet)', () => {
  // Keys that answer kept all 64 places. An undecodable frame: a greeting counted as an answer and the violation
  // closed the session as plain E_CLOSED (an attacker pass, fortieth session: 200 of them, 0 of 3 downloads by id).
  // "No such file": an answer reset a key's failures, and a key that said so was never given up (fifty-second
  // session: 300 of them, 0 of 3).
  for (const [mode, what, given] of [
    ['greets-garbage', 'an undecodable frame are dropped at their first violation', /"noSeeder":"violation"/],
    ['greets-not-found', '"no such file" give their places up', /DHT peer given up; its place goes to another/],
  ] as const)
    it(`${MAX_DHT_PEERS + 16} keys of a stranger's that greet and answer every request with ${what}: a download by id completes, byte-identical`, async (t) => {
      const bootstrap = await testnet(t)
      const { dir, id, sha } = await seeded(t, 600_000)
      const stranger = await strangerServers(t, bootstrap, id, MAX_DHT_PEERS + 16, mode)
      await dhtSeeder(t, join(dir, 'seed'), bootstrap)
      await downloadThroughDht(join(dir, 'd'), bootstrap, ['--id', id, '--wait', '60'], sha)
      const log = await readFile(join(dir, 'd', 'logs', 'download.log'), 'utf8')
      if (stranger.dialled() > 0) assert.match(log, given)
    })

  it('a stranger that sends a bad frame to a seeder and then keeps sending is closed once it sent more than the session holds while paused, not at the 60 s idle timeout', async (t) => {
    const bootstrap = await testnet(t)
    const { dir } = await seeded(t, 300_000)
    const { line } = await dhtSeeder(t, join(dir, 'seed'), bootstrap)
    const attacker = await attackerNode(t, bootstrap)
    const socket = attacker.connect(parsePeerId(line.peerId))
    socket.on('error', () => undefined)
    const greeting = await new Promise<Buffer>((resolve) => socket.once('data', resolve))
    socket.write(greeting.subarray(DHT_HELLO.byteLength)) // its challenge returned: a session, as a dialler's
    socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff])) // the seeder refuses the frame and waits for us to go
    const started = performance.now()
    let closedAfter: number | undefined
    const closing = new Promise<void>((resolve) => {
      socket.once('close', () => {
        closedAfter = performance.now() - started
        resolve()
      })
      setTimeout(resolve, 40_000).unref()
    })
    const piece = Buffer.alloc(MAX_DHT_WRITE_BYTES, 1)
    let sent = 0
    while (closedAfter === undefined && sent < 8 * MAX_HELD_WHILE_PAUSED && performance.now() - started < 30_000) {
      const flowing = socket.write(piece)
      sent += piece.byteLength
      if (!flowing) await new Promise((resolve) => setTimeout(resolve, 5))
      await new Promise(setImmediate)
    }
    await closing
    socket.destroy()
    t.diagnostic(`sent ${sent} bytes; closed after ${closedAfter} ms`)
    assert.ok(closedAfter !== undefined && closedAfter < 30_000, 'closed well before the 60 s idle timeout')
  })
})
