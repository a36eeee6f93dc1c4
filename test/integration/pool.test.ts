import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { hasCode } from '../../src/core/errors.js'
import { sha256Hex } from '../../src/core/manifest.js'
import { ConnectionPool } from '../../src/core/pool.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { ChunkServer } from '../../src/core/transfer/chunk-server.js'
import { PeerClient } from '../../src/core/transfer/client.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'

/** Real servers on 127.0.0.1 and real PeerClients behind the pool. */
async function servers(t: Cleanup, count: number) {
  const dir = await tmpDir(t)
  const store = new ChunkStore(join(dir, 'chunks'))
  await store.init()
  await randomFile(join(dir, 'f'), 64 * 4096)
  const { id } = await splitFile(join(dir, 'f'), { store, chunkSize: 4096 })
  const peers = []
  for (let i = 0; i < count; i++) {
    const server = new ChunkServer({ store, host: '127.0.0.1', port: 0 })
    const { port } = await server.listen()
    onCleanup(t, () => server.close(100))
    peers.push({ address: '127.0.0.1', port, server })
  }
  let connects = 0
  let clock = 0
  const pool = new ConnectionPool<PeerClient>({
    connect: async (peer, signal) => {
      connects++
      return PeerClient.connect({ host: peer.address, port: peer.port }, signal)
    },
    maxPerPeer: 2,
    maxTotal: 3,
    maxLeasesPerConnection: 4,
    idleMs: 1000,
    sweepMs: 60_000,
    now: () => clock,
  })
  onCleanup(t, () => pool.close())
  return {
    id,
    peers,
    pool,
    connects: () => connects,
    tick: (ms: number) => {
      clock += ms
    },
  }
}

describe('connection pool', () => {
  it('concurrent acquires share one connect; leases past the per-connection cap open a second; pipelined requests are correct', async (t) => {
    const { id, peers, pool, connects } = await servers(t, 1)
    const leases = await Promise.all(Array.from({ length: 4 }, () => pool.acquire(peers[0]!)))
    assert.equal(connects(), 1)
    assert.equal(new Set(leases.map((l) => l.connection)).size, 1)
    const fifth = await pool.acquire(peers[0]!)
    assert.equal(pool.connectionsTo(peers[0]!), 2)
    const bodies = await Promise.all([...leases, fifth].map((l, i) => l.connection.fetchChunk(id, i)))
    assert.equal(bodies.length, 5)
    for (const l of [...leases, fifth]) l.release()
    // Third connection to the same peer is not opened: waits for a release instead.
    const more = await Promise.all(Array.from({ length: 8 }, () => pool.acquire(peers[0]!)))
    assert.equal(pool.connectionsTo(peers[0]!), 2)
    let waited = false
    const ninth = pool.acquire(peers[0]!).then((l) => {
      waited = true
      return l
    })
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(waited, false)
    more[0]!.release()
    ;(await ninth).release()
    for (const l of more) l.release()
    assert.equal(sha256Hex(await (await pool.acquire(peers[0]!)).connection.fetchManifest(id)), id)
  })

  it('replaces a dead connection, closes idle ones, and makes room under the total cap', async (t) => {
    const { peers, pool, connects, tick } = await servers(t, 3)
    const first = await pool.acquire(peers[0]!)
    first.connection.close()
    first.release()
    const again = await pool.acquire(peers[0]!)
    assert.notEqual(again.connection, first.connection)
    assert.equal(connects(), 2)
    again.release()
    tick(2000)
    pool.sweep()
    assert.equal(pool.size, 0)
    // Total cap 3: three busy peers, a fourth acquire for another connection waits; an idle one is closed to make room.
    const a = await pool.acquire(peers[0]!)
    const b = await pool.acquire(peers[1]!)
    const c = await pool.acquire(peers[2]!)
    c.release()
    const d = await pool.acquire({ address: '127.0.0.1', port: peers[0]!.port }) // same peer: reuses a's connection
    assert.equal(d.connection, a.connection)
    // Fill b's connection (4 leases), then one more for that peer needs a 4th connection: c's idle one is closed for it.
    const bs = await Promise.all([1, 2, 3].map(() => pool.acquire(peers[1]!)))
    const extra = await pool.acquire(peers[1]!)
    assert.notEqual(extra.connection, b.connection)
    assert.ok(c.connection.closed, 'the idle connection made room')
    assert.equal(pool.size, 3)
    for (const l of [a, b, d, extra, ...bs]) l.release()
    pool.close()
    await assert.rejects(pool.acquire(peers[0]!), (e) => hasCode(e, 'E_CLOSED'))
  })

  it('closePeer abandons a connect under way: every acquire waiting on it rejects at once', async (t) => {
    // A connect that never completes on its own (a peer whose SYN goes unanswered): only its signal ends it.
    let connects = 0
    const pool = new ConnectionPool<PeerClient>({
      connect: (_peer, signal) =>
        new Promise((_resolve, reject) => {
          connects++
          signal.addEventListener('abort', () => reject(signal.reason), { once: true })
        }),
    })
    onCleanup(t, () => pool.close())
    const peer = { address: '127.0.0.1', port: 9 }
    const waiting = [pool.acquire(peer), pool.acquire(peer)]
    await new Promise((r) => setImmediate(r))
    pool.closePeer(peer)
    for (const w of waiting) await assert.rejects(w, (e) => hasCode(e, 'E_CLOSED'))
    assert.equal(connects, 1)
    assert.equal(pool.size, 0)
  })
})
