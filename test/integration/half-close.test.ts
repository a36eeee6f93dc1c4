import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import type { Manifest } from '../../src/core/manifest.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { ChunkServer, type ServerLimits } from '../../src/core/transfer/chunk-server.js'
import { encodeFrame, type Frame, FrameDecoder } from '../../src/core/transfer/framing.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'
import { sha256, silentSocket, until } from '../helpers/raw-client.js'

/**
 * Clients that pipeline requests and end their half of the connection at
 * once (shutdown(SHUT_WR)), over real sockets, plain and encrypted (a stock
 * secret-stream client): every request sent before the end is answered, in
 * order, then the server ends its half.
 */

const MiB = 1024 * 1024
const CHUNKS = 10

async function seeder(t: Cleanup, secure: boolean, limits: Partial<ServerLimits> = {}) {
  const dir = await tmpDir(t)
  const store = new ChunkStore(join(dir, 'chunks'))
  await store.init()
  await randomFile(join(dir, 'f.bin'), CHUNKS * MiB)
  const split = await splitFile(join(dir, 'f.bin'), { store, chunkSize: MiB })
  const manifest = (await store.get(split.id))!.manifest as Manifest
  const server = new ChunkServer({
    store,
    host: '127.0.0.1',
    port: 0,
    limits,
    ...(secure ? { secure: { keyPair: NoiseSecretStream.keyPair() } } : {}),
  })
  const { port } = await server.listen()
  onCleanup(t, () => server.close(50))
  return { server, port, id: split.id, manifest }
}

interface Ended {
  frames: Frame[]
  closed: Promise<unknown>
  raw: Socket
  /** The server's end came (EOF), and the connection was not reset. */
  ended: () => boolean
  reset: () => boolean
}

/** Sends `requests` in one write and ends its half at once; collects what comes back until the connection closes. */
async function askAndEnd(port: number, secure: boolean, requests: Buffer): Promise<Ended> {
  const raw = connect({ host: '127.0.0.1', port })
  let reset = false
  let ended = false
  raw.on('error', () => {
    reset = true
  })
  raw.once('end', () => {
    ended = true
  })
  const decoder = new FrameDecoder({ maxHeaderBytes: 1 << 20, maxBodyBytes: 64 << 20 })
  const frames: Frame[] = []
  const onData = (d: Buffer): void => {
    frames.push(...decoder.push(d))
  }
  if (!secure) {
    await once(raw, 'connect')
    raw.on('data', onData)
    raw.end(requests)
    return { frames, closed: once(raw, 'close'), raw, ended: () => ended, reset: () => reset }
  }
  const stream = new NoiseSecretStream(true, raw, { keyPair: NoiseSecretStream.keyPair() })
  stream.on('error', () => undefined)
  await new Promise<void>((resolve) => stream.once('open', () => resolve()))
  stream.on('data', onData)
  stream.end(requests)
  return { frames, closed: once(raw, 'close'), raw, ended: () => ended, reset: () => reset }
}

function requestsFor(id: string, count: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, (_, index) => encodeFrame({ type: 'chunk', id, index })))
}

describe('a client that ends its half right after its requests', () => {
  for (const secure of [false, true])
    it(`gets every answer, in order, then the server ends its half (${secure ? 'encrypted, a secret-stream client' : 'plain'})`, async (t) => {
      const s = await seeder(t, secure)
      const c = await askAndEnd(s.port, secure, requestsFor(s.id, CHUNKS))
      onCleanup(t, () => {
        c.raw.destroy()
      })
      const closed = await Promise.race([c.closed.then(() => true), new Promise((r) => setTimeout(r, 10_000, false))])
      assert.ok(closed, 'the server ended the connection')
      assert.ok(c.ended() && !c.reset(), 'its end (EOF) after the answers, not a reset')
      assert.equal(c.frames.length, CHUNKS, `${c.frames.length} answers of ${CHUNKS}`)
      c.frames.forEach((f, i) => {
        assert.equal(f.header.type, 'chunk', JSON.stringify(f.header))
        assert.equal(f.header.index, i)
        assert.equal(sha256(f.body!), s.manifest.chunks[i], `chunk ${i}'s bytes`)
      })
      assert.ok(await until(() => s.server.openConnections === 0, 2000), 'nothing left open on the server')
    })

  it('a half-closed client that reads nothing is still cut at the idle timeout', async (t) => {
    const s = await seeder(t, false, { idleTimeoutMs: 300 })
    const raw = await silentSocket(t, s.port)
    raw.end(requestsFor(s.id, CHUNKS))
    assert.ok(await until(() => s.server.openConnections === 1, 2000), 'admitted')
    assert.ok(await until(() => s.server.openConnections === 0, 5000), 'closed by the server')
    assert.equal(s.server.budget.inUse, 0)
  })
})
