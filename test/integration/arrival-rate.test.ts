import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { ChunkServer } from '../../src/core/transfer/chunk-server.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'

/** Whether a stock Noise handshake from `localAddress` to the server on `port` completes (false: closed first). */
async function handshakes(t: Cleanup, port: number, localAddress: string): Promise<boolean> {
  const socket = connect({ host: '127.0.0.1', port, localAddress })
  const stream = new NoiseSecretStream(true, socket, { keyPair: NoiseSecretStream.keyPair() })
  stream.on('error', () => undefined)
  onCleanup(t, () => {
    stream.destroy()
  })
  const done = await new Promise<boolean>((resolve) => {
    stream.once('connect', () => resolve(true))
    stream.once('close', () => resolve(false))
  })
  stream.destroy()
  return done
}

describe('new connections an address may open (admission.ts, newConnectionsPerSecond)', () => {
  it('one that closes and reopens as fast as it can is held to the rate, closed before its handshake; another address is not held back', async (t) => {
    const dir = await tmpDir(t)
    await randomFile(join(dir, 'a.bin'), 10_000)
    const store = new ChunkStore(join(dir, 'chunks'))
    await splitFile(join(dir, 'a.bin'), { store })
    const rate = 5
    const server = new ChunkServer({
      store,
      host: '127.0.0.1',
      port: 0,
      limits: { newConnectionsPerSecond: rate },
      secure: { keyPair: NoiseSecretStream.keyPair() },
    })
    const { port } = await server.listen()
    onCleanup(t, () => server.close(100))

    const began = performance.now()
    let done = 0
    const tries = 60
    for (let i = 0; i < tries; i++) if (await handshakes(t, port, '127.0.5.1')) done++
    const seconds = (performance.now() - began) / 1000
    const allowed = 2 * rate + Math.ceil(rate * seconds)
    assert.ok(done >= 2 * rate, `the first ${2 * rate} at once are let in (${done})`)
    assert.ok(done <= allowed, `${done} handshakes in ${seconds.toFixed(2)} s, at most ${allowed}`)
    assert.equal(server.stats.refusedRate, tries - done, 'every other one counted')
    assert.equal(server.stats.connections, done)
    assert.equal(server.stats.refusedBusy, 0, 'none answered: an answer costs the handshake')

    assert.equal(await handshakes(t, port, '127.0.5.2'), true, 'another address has its own allowance')
    await new Promise((resolve) => setTimeout(resolve, 1000 / rate + 50))
    assert.equal(await handshakes(t, port, '127.0.5.1'), true, 'the allowance comes back with time')
  })
})
