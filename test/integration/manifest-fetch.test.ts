import assert from 'node:assert/strict'
import { type AddressInfo, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fetchManifest } from '../../src/core/download/manifest-fetch.js'
import { hasCode, type P2PError } from '../../src/core/errors.js'
import { silentLogger } from '../../src/core/log.js'
import { ConnectionPool, type PeerAddress } from '../../src/core/pool.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { ChunkServer } from '../../src/core/transfer/chunk-server.js'
import { PeerClient } from '../../src/core/transfer/client.js'
import { encodeFrame, encodeHeader } from '../../src/core/transfer/framing.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'

/**
 * The manifest race on real sockets (FAULTS.md case 40): candidates are asked
 * a few at a time and hedged, so silent ones cost a fraction of a second,
 * never their request timeout.
 */

/** A peer that accepts and reads, and never answers (or answers with `reply`). Counts connections it saw close. */
async function fakePeer(t: Cleanup, reply?: Buffer, host = '127.0.0.1') {
  const sockets = new Set<Socket>()
  let closed = 0
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => undefined)
    socket.on('close', () => {
      closed++
    })
    socket.on('data', () => {
      if (reply) socket.write(reply)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()))
  onCleanup(t, () => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  return {
    address: host,
    port: (server.address() as AddressInfo).port,
    closed: () => closed,
    connections: () => sockets.size,
  }
}

async function setup(t: Cleanup) {
  const dir = await tmpDir(t)
  const seederStore = new ChunkStore(join(dir, 'seeder'))
  await seederStore.init()
  await randomFile(join(dir, 'f'), 100_000)
  const { id } = await splitFile(join(dir, 'f'), { store: seederStore, chunkSize: 16384 })
  const server = new ChunkServer({ store: seederStore, host: '127.0.0.1', port: 0 })
  const { port } = await server.listen()
  onCleanup(t, () => server.close(100))
  const store = new ChunkStore(join(dir, 'empty'))
  await store.init()
  let connects = 0
  const pool = new ConnectionPool<PeerClient>({
    connect: (peer, signal) => {
      connects++
      return PeerClient.connect({ host: peer.address, port: peer.port, requestTimeoutMs: 30_000 }, signal)
    },
  })
  onCleanup(t, () => pool.close())
  const liars = new Map<string, string>()
  const race = (peers: PeerAddress[], waitMs = 10_000) => {
    const started = performance.now()
    return fetchManifest({
      id,
      store,
      pool,
      peers: () => peers,
      maxManifestBytes: 1 << 20,
      deadline: Date.now() + waitMs,
      now: Date.now,
      log: silentLogger(),
      signal: new AbortController().signal,
      onLiar: (key, reason) => liars.set(key, reason),
      waitForPeers: (ms) => new Promise((r) => setTimeout(r, ms)),
    }).then((source) => ({ ...source, ms: performance.now() - started }))
  }
  return { id, honest: { address: '127.0.0.1', port }, race, liars, connects: () => connects }
}

describe('manifest fetch: hedged requests', () => {
  it('four silent peers asked first: the honest one answers within a second; the silent connections are closed after', async (t) => {
    const s = await setup(t)
    const silent = await Promise.all([0, 1, 2, 3].map(() => fakePeer(t)))
    // peers() order puts the honest one last; the race asks in random order, FIRST_ASKED at once, one more every 250 ms.
    const source = await s.race([...silent, s.honest])
    assert.equal(source.from, `127.0.0.1:${s.honest.port}`)
    assert.ok(source.ms < 3000, `${source.ms.toFixed(0)} ms (serially: 4 × the 30 s request timeout)`)
    const asked = silent.filter((p) => p.connections() > 0)
    await new Promise((r) => setTimeout(r, 50))
    for (const p of asked) assert.equal(p.closed(), p.connections(), 'abandoned requests: their connections are closed')
  })

  it('more silent and trickling peers than slots: the slow ones make room after a second, the honest one still answers', async (t) => {
    const s = await setup(t)
    const silent = await Promise.all(Array.from({ length: 9 }, () => fakePeer(t)))
    // Tricklers: a response header that promises 60,000 bytes, then a byte now and then.
    const tricklers = await Promise.all(
      Array.from({ length: 3 }, () =>
        fakePeer(t, Buffer.concat([encodeHeader({ type: 'manifest', id: s.id, size: 60_000 }), Buffer.from('{')])),
      ),
    )
    const source = await s.race([...silent, ...tricklers, s.honest])
    assert.equal(source.from, `127.0.0.1:${s.honest.port}`)
    assert.ok(source.ms < 6000, `${source.ms.toFixed(0)} ms`)
  })

  it('a peer sending a forged manifest is reported as a liar; the honest one still wins', async (t) => {
    const s = await setup(t)
    const forged = Buffer.from('{"version":1}')
    const forger = await fakePeer(t, encodeFrame({ type: 'manifest', id: s.id }, forged))
    const source = await s.race([forger, s.honest])
    assert.equal(source.from, `127.0.0.1:${s.honest.port}`)
    const again = await s.race([forger], 800).then(
      () => assert.fail('only a forger: must not succeed'),
      (e: unknown) => e,
    )
    assert.ok(hasCode(again, 'E_NOT_FOUND'))
    assert.match(s.liars.get(`127.0.0.1:${forger.port}`) ?? '', /does not hash/)
  })

  it('only silent peers: E_NOT_FOUND at the deadline (--wait), not after their request timeouts', async (t) => {
    const s = await setup(t)
    const silent = await Promise.all([0, 1, 2].map(() => fakePeer(t)))
    const started = performance.now()
    await assert.rejects(s.race(silent, 800), (e) => hasCode(e, 'E_NOT_FOUND'))
    const ms = performance.now() - started
    assert.ok(ms < 3000, `${ms.toFixed(0)} ms`)
    await new Promise((r) => setTimeout(r, 50))
    for (const p of silent) assert.equal(p.closed(), p.connections())
  })

  it('peers that answer only E_BUSY (at their connection limit): E_NO_PEER at the deadline, naming the refusal; one without the file: E_NOT_FOUND', async (t) => {
    const s = await setup(t)
    const answer = (code: string, message: string) => encodeFrame({ type: 'error', code, message })
    const busy = await Promise.all(
      [0, 1].map(() => fakePeer(t, answer('E_BUSY', 'this peer is at its limit of 256 connections; try again later'))),
    )
    await assert.rejects(
      s.race(busy, 1500),
      (err) => hasCode(err, 'E_NO_PEER') && /at its limit/.test(err.message) && /busy or unreachable/.test(err.message),
    )
    const without = await fakePeer(t, answer('E_NOT_FOUND', 'no such manifest'))
    await assert.rejects(s.race([without], 1500), (err) => hasCode(err, 'E_NOT_FOUND'))
    // One busy, one without it, in either order of answers: the busy one may have it, so E_NO_PEER.
    for (const peers of [
      [busy[0]!, without],
      [without, busy[1]!],
    ])
      await assert.rejects(s.race(peers, 1500), (err) => hasCode(err, 'E_NO_PEER'))
  })

  it('a crowd of silent peers from a few addresses: addresses take turns, so the seeder at its own is asked among the first', async (t) => {
    const s = await setup(t)
    // 4 addresses × 50 ports (Linux routes all of 127/8 to loopback), the seeder alone at 127.0.0.1. Drawn
    // uniformly, the seeder comes after half the crowd on average (100 silent asks, ~7 a second); by address, it
    // is among the first 5 asked. The bound leaves room for a loaded machine (more hedges while the seeder
    // answers); the uniform draw stays under it in about 1 race of 10, so in all 3 in about 1 test of 1,000.
    const silent: Awaited<ReturnType<typeof fakePeer>>[] = []
    for (const host of ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'])
      silent.push(...(await Promise.all(Array.from({ length: 50 }, () => fakePeer(t, undefined, host)))))
    const askedSilent = () => silent.reduce((sum, p) => sum + p.connections(), 0)
    for (let race = 0; race < 3; race++) {
      const before = askedSilent()
      const source = await s.race([...silent, s.honest])
      assert.equal(source.from, `127.0.0.1:${s.honest.port}`)
      const asked = askedSilent() - before
      assert.ok(asked <= 20, `race ${race + 1}: ${asked} silent peers asked before the manifest came`)
    }
  })

  it('ports of one address that refuse at once are asked a few a second, not as fast as they refuse', async (t) => {
    const s = await setup(t)
    // A stranger announcing the file from a fresh port in every datagram: each a candidate, each refused at once.
    // The race asked the next the moment one refused (and read the peers at each), a core's worth under a flood.
    const refusing: PeerAddress[] = []
    for (let i = 0; i < 60; i++) refusing.push({ address: '127.0.0.6', port: await freedPort('127.0.0.6') })
    // Said as a flood that may crowd out a seeder there, with the way past it.
    await assert.rejects(s.race(refusing, 1500), (err: P2PError) => {
      assert.equal(err.code, 'E_NO_PEER')
      assert.match(
        err.message,
        /\d+ ports announced at 127\.0\.0\.6 could not be reached, a flood .*--allow.*--peer.*--secret.*; or run again later$/,
      )
      return true
    })
    // One address: after a refusal its next port waits ADDRESS_RETRY_MS (250 ms), so a few each 250 ms (17 here;
    // 116 before, each refusal followed at once by the next).
    assert.ok(s.connects() <= 30, `${s.connects()} connections tried in 1.5 s`)
    assert.ok(s.connects() >= 2, 'it did ask')
  })
})

/** A port on `host` that nothing listens on (a listener opened there and closed). */
async function freedPort(host: string): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
