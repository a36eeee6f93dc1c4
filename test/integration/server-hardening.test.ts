import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { P2PError } from '../../src/core/errors.js'
import type { Manifest } from '../../src/core/manifest.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { ChunkServer, type ServerLimits } from '../../src/core/transfer/chunk-server.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'
import { checkAnswers, pipeline, type RawClient, rawClient, until } from '../helpers/raw-client.js'

/**
 * Hostile and killed clients against one seeder on loopback (FAULTS.md 36,
 * 37): clients that pipeline and vanish, a client that holds the budget
 * while another times out, many non-reading connections from one address,
 * one address taking every slot, and a flood of unknown ids. After each, an
 * honest client from another address is served, every byte checked, and
 * the server's budget comes back to 0.
 */

const KiB = 1024

async function seeder(t: Cleanup, chunks: number, chunkSize: number, limits: Partial<ServerLimits>) {
  const dir = await tmpDir(t)
  const store = new ChunkStore(join(dir, 'chunks'))
  await store.init()
  await randomFile(join(dir, 'f.bin'), chunks * chunkSize - 17)
  const split = await splitFile(join(dir, 'f.bin'), { store, chunkSize })
  const manifest = (await store.get(split.id))!.manifest as Manifest
  const violations: P2PError[] = []
  const server = new ChunkServer({ store, host: '127.0.0.1', port: 0, limits, onViolation: (e) => violations.push(e) })
  const { port } = await server.listen()
  onCleanup(t, () => server.close(50))
  const honest = async (localAddress = '127.0.0.9', count = chunks): Promise<RawClient> => {
    const c = await rawClient(t, port, { localAddress })
    pipeline(
      c,
      split.id,
      Array.from({ length: count }, (_, i) => i),
    )
    return c
  }
  return {
    dir,
    store,
    server,
    port,
    id: split.id,
    manifests: new Map<string, Manifest>([[split.id, manifest]]),
    honest,
    violations,
  }
}

const served = (c: RawClient, n: number, ms = 20_000): Promise<boolean> =>
  until(() => c.frames.length >= n || c.closed(), ms)

describe('seeder under killed and hostile clients', () => {
  it('finding 1: 48 clients that pipeline and vanish (close or reset) give every budget byte back; an honest client is served at once', async (t) => {
    const s = await seeder(t, 32, 64 * KiB, { maxBufferedBytes: 256 * KiB, maxConnectionsPerAddress: 64 })
    const quitters = await Promise.all(
      Array.from({ length: 48 }, () => rawClient(t, s.port, { localAddress: '127.0.0.2', read: false })),
    )
    for (const [i, c] of quitters.entries()) {
      pipeline(
        c,
        s.id,
        Array.from({ length: 32 }, (_, k) => (i + k) % 32),
      )
    }
    // Vanish in every phase: before anything was read, while reads and hashes run, with answers half-written.
    await new Promise((r) => setTimeout(r, 20))
    for (const [i, c] of quitters.entries()) {
      if (i % 2 === 0) c.socket.destroy()
      else c.socket.resetAndDestroy()
    }
    assert.ok(await until(() => s.server.openConnections === 0), 'the server saw every client go')
    assert.ok(
      await until(() => s.server.budget.inUse === 0),
      `budget back to 0 (${s.server.budget.inUse} bytes still held)`,
    )
    const c = await s.honest()
    assert.ok(await served(c, 32), `honest client served (${c.frames.length}/32)`)
    assert.equal(checkAnswers(c, s.manifests), 32)
    c.socket.destroy()
    assert.ok(
      await until(() => s.server.openConnections === 0 && s.server.buffers.outstanding === 0),
      'every pooled buffer back',
    )
    assert.deepEqual(s.violations, [])
  })

  it('finding 2: a client holding the budget without reading while another times out; the honest client never gets wrong bytes', async (t) => {
    const s = await seeder(t, 24, 256 * KiB, { maxBufferedBytes: 1024 * KiB, idleTimeoutMs: 400 })
    const hog = await rawClient(t, s.port, { localAddress: '127.0.0.2', read: false })
    pipeline(
      hog,
      s.id,
      Array.from({ length: 48 }, (_, i) => i % 24),
    ) // backs up its socket, holds read-ahead
    await new Promise((r) => setTimeout(r, 100))
    const waiter = await rawClient(t, s.port, { localAddress: '127.0.0.3' })
    pipeline(
      waiter,
      s.id,
      Array.from({ length: 8 }, (_, i) => 23 - i),
    ) // its jobs wait for the budget the hog holds
    assert.ok(await until(() => s.server.openConnections === 0, 5000), 'both cut at the idle timeout')
    // b68bac6 released the waiter's grants and buffers twice here: one buffer sat in the pool twice.
    const rounds: RawClient[] = []
    for (let round = 0; round < 4; round++) {
      const c = await s.honest(`127.0.0.${9 + round}`)
      rounds.push(c)
      assert.ok(await served(c, 24), `round ${round}: honest client served (${c.frames.length}/24)`)
      assert.equal(checkAnswers(c, s.manifests), 24, `round ${round}: every chunk its own bytes`)
    }
    checkAnswers(waiter, s.manifests)
    for (const c of rounds) c.socket.destroy()
    assert.ok(
      await until(
        () => s.server.openConnections === 0 && s.server.budget.inUse === 0 && s.server.buffers.outstanding === 0,
      ),
    )
    assert.deepEqual(s.violations, [])
    assert.equal(s.server.buffers.audit().duplicates, 0)
  })

  it('finding 8: 40 non-reading connections from one address neither starve an honest client from another nor exceed their cap', async (t) => {
    const s = await seeder(t, 32, 512 * KiB, { maxBufferedBytes: 8 * 1024 * KiB, maxConnectionsPerAddress: 32 })
    const hogs = await Promise.all(
      Array.from({ length: 40 }, () => rawClient(t, s.port, { localAddress: '127.0.0.2', read: false })),
    )
    assert.ok(
      await until(() => s.server.stats.refusedPerAddress === 8, 5000),
      'the 8 beyond the per-address cap get E_BUSY',
    )
    assert.equal(s.server.openConnections, 32)
    for (const c of hogs) {
      pipeline(
        c,
        s.id,
        Array.from({ length: 32 }, (_, i) => i),
      )
    }
    // Let the 32 fill their sockets and the budget (those stalled longest are closed once their answers pin 8 MiB).
    const worst = (): boolean => s.server.budget.inUse >= 7 * 1024 * KiB || s.server.stats.evictedStalled > 0
    assert.ok(await until(worst, 10_000), `hogs hold the budget (${s.server.budget.inUse})`)
    const started = Date.now()
    const c = await s.honest('127.0.0.3')
    assert.ok(await served(c, 32, 30_000), `honest client served (${c.frames.length}/32)`)
    assert.equal(checkAnswers(c, s.manifests), 32)
    // Not a speed test: only that it did not wait for the hogs' idle timeout (60 s).
    assert.ok(Date.now() - started < 30_000)
    const { readAheadReturned, evictedStalled } = s.server.stats
    assert.ok(readAheadReturned + evictedStalled > 0, 'hogs gave their read-ahead back, or were closed')
  })

  it('finding 8: one address taking every slot gets E_BUSY past its cap while another address still connects', async (t) => {
    const s = await seeder(t, 4, 64 * KiB, { maxConnections: 12, maxConnectionsPerAddress: 4 })
    const greedy = await Promise.all(
      Array.from({ length: 10 }, () => rawClient(t, s.port, { localAddress: '127.0.0.2' })),
    )
    assert.ok(await until(() => greedy.filter((g) => g.frames[0]?.header.code === 'E_BUSY').length === 6, 5000))
    assert.equal(s.server.openConnections, 4)
    const others = await Promise.all([s.honest('127.0.0.3'), s.honest('127.0.0.4')])
    for (const c of others) {
      assert.ok(await served(c, 4))
      assert.equal(checkAnswers(c, s.manifests), 4)
    }
  })

  it('finding 9: 1,000 requests for unknown ids cost no store scan; a file split meanwhile is found at once', async (t) => {
    const s = await seeder(t, 4, 64 * KiB, {})
    const scansBefore = s.server.stats.scans
    const flood = await rawClient(t, s.port, { localAddress: '127.0.0.2' })
    for (let i = 0; i < 1000; i++) flood.send({ type: 'manifest', id: i.toString(16).padStart(64, 'a') })
    assert.ok(await served(flood, 1000))
    assert.ok(flood.frames.every((f) => f.header.code === 'E_NOT_FOUND'))
    assert.equal(s.server.stats.scans, scansBefore, 'misses on an unchanged store scan nothing')
    await randomFile(join(s.dir, 'later.bin'), 5000)
    const later = await splitFile(join(s.dir, 'later.bin'), { store: s.store, chunkSize: 4 * KiB })
    const c = await rawClient(t, s.port, { localAddress: '127.0.0.3' })
    c.send({ type: 'manifest', id: later.id })
    const answer = await c.next()
    assert.equal(answer.header.type, 'manifest', 'the new split is served')
    const scans = s.server.stats.scans
    for (let i = 0; i < 200; i++) flood.send({ type: 'chunk', id: 'f'.repeat(64), index: i })
    assert.ok(await served(flood, 1200))
    assert.ok(s.server.stats.scans <= scans + 1, `${s.server.stats.scans - scans} scans for 200 more misses`)
  })
})
