import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { readdirSync, readFileSync } from 'node:fs'
import { copyFile, open, symlink, unlink, writeFile } from 'node:fs/promises'
import { connect, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { hasCode } from '../../src/core/errors.js'
import { type Manifest, sha256Hex } from '../../src/core/manifest.js'
import { packedDataPath, writePackedHave } from '../../src/core/packed.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore, chunkFileName } from '../../src/core/store.js'
import { ChunkServer, type ServerLimits } from '../../src/core/transfer/chunk-server.js'
import { PeerClient } from '../../src/core/transfer/client.js'
import { encodeFrame, type Frame, FrameDecoder } from '../../src/core/transfer/framing.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'

/** These tests open connections by the hundred from one address to try the caps; the arrival rate has its own tests. */
const ANY_RATE = { newConnectionsPerSecond: 1e6 }

const KiB = 1024

async function setup(t: Cleanup, size: number, chunkSize = 4 * KiB, limits: Partial<ServerLimits> = {}) {
  const dir = await tmpDir(t)
  const store = new ChunkStore(join(dir, 'chunks'))
  await store.init()
  await randomFile(join(dir, 'file.bin'), size)
  const split = await splitFile(join(dir, 'file.bin'), { store, chunkSize })
  const entry = (await store.get(split.id))!
  const server = new ChunkServer({ store, host: '127.0.0.1', port: 0, limits: { ...ANY_RATE, ...limits } })
  const { port } = await server.listen()
  onCleanup(t, () => server.close(100))
  const client = async () => {
    const c = await PeerClient.connect({ host: '127.0.0.1', port })
    onCleanup(t, () => c.close())
    return c
  }
  return { dir, store, server, port, id: split.id, manifest: entry.manifest as Manifest, entry, client }
}

/** A raw socket with a frame reader, for inputs no real client would send. */
async function raw(t: Cleanup, port: number) {
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  onCleanup(t, () => {
    socket.destroy()
  })
  const decoder = new FrameDecoder({ maxHeaderBytes: 1 << 20, maxBodyBytes: 64 << 20 })
  const frames: Frame[] = []
  let closed = false
  socket.on('data', (d) => frames.push(...decoder.push(d)))
  socket.on('close', () => {
    closed = true
  })
  socket.on('error', () => undefined)
  return {
    socket,
    closed: () => closed,
    async next(ms = 3000): Promise<Frame> {
      const deadline = Date.now() + ms
      while (frames.length === 0 && Date.now() < deadline && !closed) await new Promise((r) => setTimeout(r, 5))
      const f = frames.shift()
      if (!f) assert.fail('no frame arrived')
      return f
    },
    async waitClosed(ms = 3000): Promise<void> {
      const deadline = Date.now() + ms
      while (!closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
      assert.ok(closed, 'connection closed by the server')
    },
  }
}

const hash = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

describe('chunk server on 127.0.0.1', () => {
  it('answers pipelined requests on one connection in order, every byte verified', async (t) => {
    const s = await setup(t, 50 * 4 * KiB + 100)
    const c = await s.client()
    const manifest = c.fetchManifest(s.id)
    const chunks = s.manifest.chunks.map((_, i) => c.fetchChunk(s.id, i))
    assert.equal(sha256Hex(await manifest), s.id)
    const bodies = await Promise.all(chunks)
    for (const [i, b] of bodies.entries()) assert.equal(hash(b), s.manifest.chunks[i])
    assert.equal(hash(Buffer.concat(bodies)), s.manifest.sha256)
  })

  it('serves 200 concurrent connections, each fetching a different chunk', async (t) => {
    const s = await setup(t, 200 * 4 * KiB, 4 * KiB, { maxConnectionsPerAddress: 256 }) // all from 127.0.0.1
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const c = await PeerClient.connect({ host: '127.0.0.1', port: s.port })
        try {
          return hash(await c.fetchChunk(s.id, i)) === s.manifest.chunks[i]
        } finally {
          c.close()
        }
      }),
    )
    assert.ok(results.every(Boolean))
  })

  it('answers each bad request with its code and keeps the connection; bad frames close it; others are still served', async (t) => {
    const s = await setup(t, 3 * 4 * KiB, 4 * KiB, { maxHeaderBytes: 256 })
    const r = await raw(t, s.port)
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ type: 'chunk', id: 'ABC', index: 0 }, 'E_BAD_REQUEST'],
      [{ type: 'chunk', id: s.id, index: -1 }, 'E_BAD_REQUEST'],
      [{ type: 'chunk', id: s.id, index: 1.5 }, 'E_BAD_REQUEST'],
      [{ type: 'chunk', id: s.id, index: 3 }, 'E_BAD_REQUEST'],
      [{ type: 'chunk', id: s.id }, 'E_BAD_REQUEST'],
      [{ type: 'rm', id: s.id }, 'E_BAD_REQUEST'],
      [{ type: 'manifest', id: 'f'.repeat(64) }, 'E_NOT_FOUND'],
    ]
    for (const [header, code] of cases) {
      r.socket.write(encodeFrame(header))
      const f = await r.next()
      assert.equal(f.header.type, 'error')
      assert.equal(f.header.code, code, JSON.stringify(header))
    }
    r.socket.write(encodeFrame({ type: 'chunk', id: s.id, index: 2 }))
    assert.equal(hash((await r.next()).body!), s.manifest.chunks[2])
    // Not JSON: error frame, then closed.
    r.socket.write(Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from('hello')]))
    assert.equal((await r.next()).header.code, 'E_BAD_FRAME')
    await r.waitClosed()
    // Over the header limit: E_TOO_LARGE, closed.
    const big = await raw(t, s.port)
    big.socket.write(encodeFrame({ type: 'manifest', id: s.id, pad: 'x'.repeat(300) }))
    assert.equal((await big.next()).header.code, 'E_TOO_LARGE')
    await big.waitClosed()
    const prefixOnly = await raw(t, s.port)
    prefixOnly.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff]))
    assert.equal((await prefixOnly.next()).header.code, 'E_TOO_LARGE')
    const c = await s.client()
    assert.equal(sha256Hex(await c.fetchManifest(s.id)), s.id)
  })

  it('at the connection limit the next connection gets E_BUSY and is closed; the others keep working', async (t) => {
    const s = await setup(t, 4 * KiB, 4 * KiB, { maxConnections: 3 })
    const clients = await Promise.all([s.client(), s.client(), s.client()])
    // Each has asked (a connection that has asked nothing would give way to the newcomer: admission.ts).
    for (const c of clients) assert.equal(sha256Hex(await c.fetchManifest(s.id)), s.id)
    const extra = await raw(t, s.port)
    assert.equal((await extra.next()).header.code, 'E_BUSY')
    await extra.waitClosed()
    for (const c of clients) assert.equal(hash(await c.fetchChunk(s.id, 0)), s.manifest.chunks[0])
    assert.equal(s.server.stats.refusedBusy, 1)
  })

  it('closes an idle connection, and a frame left unfinished (slowloris) within the frame deadline', async (t) => {
    const s = await setup(t, 4 * KiB, 4 * KiB, { idleTimeoutMs: 200, frameTimeoutMs: 300 })
    const idle = await raw(t, s.port)
    await idle.waitClosed(2000)
    const slow = await raw(t, s.port)
    const frame = encodeFrame({ type: 'manifest', id: s.id })
    const started = Date.now()
    for (let i = 0; i < frame.length && !slow.closed() && Date.now() - started < 3000; i++) {
      slow.socket.write(frame.subarray(i, i + 1)) // one byte every 100 ms: never idle for 200 ms
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.ok(slow.closed(), 'cut before the frame was complete')
  })

  it('stops reading a client over its in-flight limit instead of failing it; every answer arrives in order', async (t) => {
    const s = await setup(t, 100 * 4 * KiB, 4 * KiB, { maxInFlight: 4 })
    const r = await raw(t, s.port)
    r.socket.write(
      Buffer.concat(Array.from({ length: 100 }, (_, i) => encodeFrame({ type: 'chunk', id: s.id, index: i }))),
    )
    for (let i = 0; i < 100; i++) {
      const f = await r.next()
      assert.equal(f.header.index, i)
      assert.equal(hash(f.body!), s.manifest.chunks[i])
    }
  })

  it('a client that reads nothing does not stall the others', async (t) => {
    const s = await setup(t, 64 * 64 * KiB, 64 * KiB)
    const stuck = connect(s.port, '127.0.0.1')
    await once(stuck, 'connect')
    onCleanup(t, () => {
      stuck.destroy()
    })
    stuck.pause()
    stuck.write(
      Buffer.concat(Array.from({ length: 2000 }, (_, i) => encodeFrame({ type: 'chunk', id: s.id, index: i % 64 }))),
    )
    await new Promise((r) => setTimeout(r, 200))
    const c = await s.client()
    const started = Date.now()
    const bodies = await Promise.all(s.manifest.chunks.map((_, i) => c.fetchChunk(s.id, i)))
    assert.equal(hash(Buffer.concat(bodies)), s.manifest.sha256)
    assert.ok(Date.now() - started < 10_000)
  })

  it('never serves a chunk corrupted on disk, before or after it was first served', async (t) => {
    const s = await setup(t, 4 * 4 * KiB)
    const c = await s.client()
    assert.equal(hash(await c.fetchChunk(s.id, 3)), s.manifest.chunks[3])
    assert.equal(s.server.stats.hashedChunks, 0, 'split recorded the chunks as verified: no second hash')
    const path = s.store.chunkPath(s.entry.dir, 1)
    await writeFile(path, Buffer.alloc(4 * KiB, 7)) // same length, wrong bytes
    // Damage found within 20 ms of its file's change is not remembered (a write may still be under way).
    await new Promise((r) => setTimeout(r, 50))
    await assert.rejects(c.fetchChunk(s.id, 1), (e) => hasCode(e, 'E_NOT_FOUND'))
    const hashed = s.server.stats.hashedChunks
    await assert.rejects(c.fetchChunk(s.id, 1), (e) => hasCode(e, 'E_NOT_FOUND'))
    assert.equal(
      s.server.stats.hashedChunks,
      hashed,
      'asked again, a damaged chunk is refused without hashing it again',
    )
    assert.equal(hash(await c.fetchChunk(s.id, 2)), s.manifest.chunks[2])
    await writeFile(s.store.chunkPath(s.entry.dir, 2), Buffer.alloc(4 * KiB, 9)) // served once, then damaged
    await assert.rejects(c.fetchChunk(s.id, 2), (e) => hasCode(e, 'E_NOT_FOUND'))
    assert.equal(s.server.stats.corruptChunks, 2)
    assert.ok(s.server.stats.hashedChunks >= 2, 'changed files are hashed again')
  })

  it('serves files split after it started, refuses missing chunks, and does not follow symlinks out of the store', async (t) => {
    const s = await setup(t, 3 * 4 * KiB)
    await randomFile(join(s.dir, 'later.bin'), 5000)
    const later = await splitFile(join(s.dir, 'later.bin'), { store: s.store, chunkSize: 4 * KiB })
    const c = await s.client()
    assert.equal(sha256Hex(await c.fetchManifest(later.id)), later.id)
    await unlink(s.store.chunkPath(s.entry.dir, 0))
    await assert.rejects(c.fetchChunk(s.id, 0), (e) => hasCode(e, 'E_NOT_FOUND'))
    await writeFile(join(s.dir, 'outside'), Buffer.alloc(4 * KiB, 1))
    await symlink(join(s.dir, 'outside'), s.store.chunkPath(s.entry.dir, 0))
    await assert.rejects(c.fetchChunk(s.id, 0), (e) => hasCode(e, 'E_NOT_FOUND'))
    assert.equal(chunkFileName(0), '000000.chunk')
  })

  it("serves a downloaded entry's packed data: only chunks data.have lists, hashed before first serve, never damaged ones or through a symlink", async (t) => {
    const s = await setup(t, 4 * 4 * KiB)
    for (let i = 0; i < 4; i++) await unlink(s.store.chunkPath(s.entry.dir, i))
    await copyFile(join(s.dir, 'file.bin'), packedDataPath(s.entry.dir))
    const have = new Bitfield(4)
    for (const i of [0, 1, 3]) have.set(i)
    await writePackedHave(s.entry.dir, have)
    assert.deepEqual((await s.store.get(s.id))?.have.indices(), [0, 1, 3], 'the store scan sees packed chunks')
    const c = await s.client()
    assert.equal(hash(await c.fetchChunk(s.id, 0)), s.manifest.chunks[0])
    assert.equal(hash(await c.fetchChunk(s.id, 1)), s.manifest.chunks[1])
    assert.equal(s.server.stats.hashedChunks, 2, 'no verification record for data: hashed before first serve')
    await assert.rejects(c.fetchChunk(s.id, 2), (e) => hasCode(e, 'E_NOT_FOUND'))
    const data = await open(packedDataPath(s.entry.dir), 'r+')
    await data.write(Buffer.alloc(100, 1), 0, 100, 3 * 4 * KiB + 10)
    await data.close()
    await assert.rejects(c.fetchChunk(s.id, 3), (e) => hasCode(e, 'E_NOT_FOUND'))
    assert.equal(s.server.stats.corruptChunks, 1)
    have.set(2)
    await writePackedHave(s.entry.dir, have)
    assert.equal(hash(await c.fetchChunk(s.id, 2)), s.manifest.chunks[2], 'a chunk published later is served at once')
    await unlink(packedDataPath(s.entry.dir))
    await symlink(join(s.dir, 'file.bin'), packedDataPath(s.entry.dir))
    await assert.rejects(c.fetchChunk(s.id, 0), (e) => hasCode(e, 'E_NOT_FOUND'))
  })

  it('600 idle sockets against a cap of 100: the rest get E_BUSY, a running transfer continues, idle ones are closed', async (t) => {
    const s = await setup(t, 32 * 4 * KiB, 4 * KiB, { maxConnections: 100, idleTimeoutMs: 1500 })
    const c = await s.client()
    const transfer = Promise.all(s.manifest.chunks.map((_, i) => c.fetchChunk(s.id, i)))
    const sockets = await Promise.all(
      Array.from({ length: 599 }, async () => {
        const so = connect(s.port, '127.0.0.1')
        so.on('error', () => undefined)
        onCleanup(t, () => {
          so.destroy()
        })
        await once(so, 'connect')
        return so
      }),
    )
    assert.equal(hash(Buffer.concat(await transfer)), s.manifest.sha256)
    const deadline = Date.now() + 5000
    while (sockets.some((so) => !so.destroyed && so.readyState !== 'closed') && Date.now() < deadline) {
      for (const so of sockets) so.resume()
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.ok(s.server.stats.refusedBusy >= 499, `${s.server.stats.refusedBusy} refused`)
  })

  it('a client that never reads its answers is cut at the idle timeout (the write deadline)', async (t) => {
    const s = await setup(t, 64 * 64 * KiB, 64 * KiB, { idleTimeoutMs: 300 })
    const stuck = connect(s.port, '127.0.0.1')
    await once(stuck, 'connect')
    onCleanup(t, () => {
      stuck.destroy()
    })
    stuck.pause()
    stuck.write(
      Buffer.concat(Array.from({ length: 200 }, (_, i) => encodeFrame({ type: 'chunk', id: s.id, index: i % 64 }))),
    )
    // Accepted and served (not refused): the server has read its requests. (Not "still open after 100 ms": on a busy machine 300 ms pass sooner than one thinks.)
    for (const until = Date.now() + 5000; s.server.stats.requests === 0 && Date.now() < until; )
      await new Promise((r) => setTimeout(r, 5))
    assert.ok(s.server.stats.requests > 0 && s.server.stats.refusedBusy === 0, JSON.stringify(s.server.stats))
    const deadline = Date.now() + 5000
    while (s.server.openConnections > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.equal(s.server.openConnections, 0, 'the stuck connection was cut')
    assert.equal(s.server.budget.inUse, 0, 'its buffers were released')
  })

  it('client: E_CONNECT on a closed port, E_TIMEOUT on a silent peer, E_CLOSED for requests pending at close', async (t) => {
    const silent = createServer(() => undefined)
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()))
    const sockets: Socket[] = []
    silent.on('connection', (so) => sockets.push(so))
    onCleanup(t, () => {
      for (const so of sockets) so.destroy()
      silent.close()
    })
    const port = (silent.address() as { port: number }).port
    const c = await PeerClient.connect({ host: '127.0.0.1', port, requestTimeoutMs: 200 })
    await assert.rejects(c.fetchChunk('a'.repeat(64), 0), (e) => hasCode(e, 'E_TIMEOUT'))
    assert.ok(c.closed)
    const c2 = await PeerClient.connect({ host: '127.0.0.1', port })
    const pending = c2.fetchManifest('a'.repeat(64))
    c2.close()
    await assert.rejects(pending, (e) => hasCode(e, 'E_CLOSED'))
    silent.close()
    await assert.rejects(PeerClient.connect({ host: '127.0.0.1', port }), (e) => hasCode(e, 'E_CONNECT'))
  })

  it('a listen that fails (port in use) is E_USAGE and leaves no watch of the store open', {
    skip: process.platform !== 'linux' && 'counts inotify watches',
  }, async (t) => {
    const dir = await tmpDir(t)
    const store = new ChunkStore(join(dir, 'chunks'))
    await store.init()
    const taken = createServer()
    taken.listen(0, '127.0.0.1')
    await once(taken, 'listening')
    onCleanup(t, () => new Promise<void>((resolve) => taken.close(() => resolve())))
    // The store's watches are not persistent (they keep no process alive): counted as the kernel's inotify watches.
    const watches = (): number => {
      let n = 0
      for (const fd of readdirSync('/proc/self/fdinfo'))
        try {
          n += readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
            .split('\n')
            .filter((l) => l.startsWith('inotify wd:')).length
        } catch {
          // a descriptor closed meanwhile
        }
      return n
    }
    const before = watches()
    const server = new ChunkServer({ store, host: '127.0.0.1', port: (taken.address() as { port: number }).port })
    await assert.rejects(server.listen(), (err) => hasCode(err, 'E_USAGE') && /another p2p-serve/.test(err.message))
    assert.equal(watches(), before, 'the store watch ended with the failed listen')
  })
})
