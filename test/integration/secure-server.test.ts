import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { pino } from 'pino'
import { hasCode } from '../../src/core/errors.js'
import { sha256Hex } from '../../src/core/manifest.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { ChunkServer, type ChunkServerOptions, type ServerLimits } from '../../src/core/transfer/chunk-server.js'
import { PeerClient } from '../../src/core/transfer/client.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'
import { rawClient, until } from '../helpers/raw-client.js'

/** These tests open connections by the hundred from one address to try the caps; the arrival rate has its own tests. */
const ANY_RATE = { newConnectionsPerSecond: 1e6 }

/** A chunk server over the encrypted transport on loopback, serving one random file of `size` bytes. */
async function encryptedSeeder(
  t: Cleanup,
  size: number,
  options: { limits: Partial<ServerLimits>; reclaimIdleMs?: number; log?: ChunkServerOptions['log'] },
): Promise<{ id: string; server: ChunkServer; port: number }> {
  const dir = await tmpDir(t)
  await randomFile(join(dir, 'a.bin'), size)
  const store = new ChunkStore(join(dir, 'chunks'))
  const { id } = await splitFile(join(dir, 'a.bin'), { store, chunkSize: 64 * 1024 })
  const server = new ChunkServer({
    ...{ store, host: '127.0.0.1', port: 0, ...options, limits: { ...ANY_RATE, ...options.limits } },
    secure: { keyPair: NoiseSecretStream.keyPair() },
  })
  const { port } = await server.listen()
  onCleanup(t, () => server.close(100))
  return { id, server, port }
}

/** The chunk server and client over the encrypted transport (real sockets, one process). */
/** A raw socket to the seeder on `port` once a stock Noise stream over it finished its handshake (then written to raw). */
async function handshaken(t: Parameters<typeof onCleanup>[0], port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port })
  const stream = new NoiseSecretStream(true, socket, { keyPair: NoiseSecretStream.keyPair() })
  stream.on('error', () => undefined)
  onCleanup(t, () => {
    stream.destroy()
  })
  await new Promise<void>((resolve) => stream.once('connect', () => resolve()))
  return socket
}

describe('chunk server over the encrypted transport', () => {
  it('serves over Noise; a busy server says E_BUSY inside the session (not a bare close)', async (t) => {
    const { id, server, port } = await encryptedSeeder(t, 300_000, { limits: { maxConnections: 1 } })
    const secure = { keyPair: NoiseSecretStream.keyPair() }
    const first = await PeerClient.connect({ host: '127.0.0.1', port, secure })
    onCleanup(t, () => first.close())
    assert.equal(sha256Hex(await first.fetchManifest(id)), id)
    assert.ok(first.remotePeerId)
    const second = PeerClient.connect({ host: '127.0.0.1', port, secure }).then((c) => c.fetchManifest(id))
    await assert.rejects(second, (err) => hasCode(err, 'E_BUSY'))
    assert.equal(server.stats.refusedBusy, 1)
  })

  it('a flood of connections that never finish their handshake (16 per address, the per-address cap, from several addresses) does not lock out an honest peer: the oldest silent one gives way', async (t) => {
    const { id, server, port } = await encryptedSeeder(t, 300_000, {
      limits: { maxConnections: 32, maxConnectionsPerAddress: 16 },
    })
    const flood = await Promise.all(
      Array.from({ length: 32 }, (_, i) => rawClient(t, port, { localAddress: `127.0.1.${2 + (i % 2)}` })),
    )
    assert.ok(await until(() => server.openConnections === 32, 5000), 'the flood holds every slot')
    const secure = { keyPair: NoiseSecretStream.keyPair() }
    for (let i = 0; i < 3; i++) {
      const honest = await PeerClient.connect({ host: '127.0.0.1', port, secure })
      onCleanup(t, () => honest.close())
      assert.equal(sha256Hex(await honest.fetchManifest(id)), id)
    }
    assert.equal(server.stats.reclaimedSilent, 3)
    assert.equal(server.stats.refusedBusy, 0)
    assert.equal(flood.filter((c) => c.closed()).length, 3, 'the three oldest silent ones were closed, no more')
    assert.equal(server.openConnections, 32)
  })

  it('when full of connections that asked and went idle, a newcomer takes the slot of the one idle longest once it has been idle reclaimIdleMs', async (t) => {
    const { id, server, port } = await encryptedSeeder(t, 100_000, {
      limits: { maxConnections: 4 },
      reclaimIdleMs: 300,
    })
    const secure = { keyPair: NoiseSecretStream.keyPair() }
    const idle: PeerClient[] = []
    for (let i = 0; i < 4; i++) {
      const c = await PeerClient.connect({ host: '127.0.0.1', port, secure })
      onCleanup(t, () => c.close())
      assert.equal(sha256Hex(await c.fetchManifest(id)), id)
      idle.push(c)
    }
    await new Promise((resolve) => setTimeout(resolve, 400)) // the product's reclaimIdleMs, passed
    const newcomer = await PeerClient.connect({ host: '127.0.0.1', port, secure })
    onCleanup(t, () => newcomer.close())
    assert.equal(sha256Hex(await newcomer.fetchManifest(id)), id)
    assert.equal(server.stats.reclaimedIdle, 1)
    assert.equal(server.openConnections, 4)
  })
  it('when full of connections that keep asking for what it does not have, a newcomer takes the slot of one never served, however briefly idle', async (t) => {
    const { id, server, port } = await encryptedSeeder(t, 100_000, {
      limits: { maxConnections: 4 },
      reclaimIdleMs: 60_000, // never reached here: idleness alone would free no slot
    })
    const secure = { keyPair: NoiseSecretStream.keyPair() }
    const asking: PeerClient[] = []
    for (let i = 0; i < 4; i++) {
      const c = await PeerClient.connect({ host: '127.0.0.1', port, secure })
      onCleanup(t, () => c.close())
      await assert.rejects(c.fetchManifest('f'.repeat(64)), (err) => hasCode(err, 'E_NOT_FOUND'))
      asking.push(c)
    }
    // Each asks again every 50 ms, as the attacker's did every second: never idle for long.
    const again = setInterval(() => {
      for (const c of asking) c.fetchManifest('f'.repeat(64)).catch(() => undefined)
    }, 50)
    onCleanup(t, () => clearInterval(again))
    for (let i = 0; i < 3; i++) {
      const honest = await PeerClient.connect({ host: '127.0.0.1', port, secure })
      onCleanup(t, () => honest.close())
      assert.equal(sha256Hex(await honest.fetchManifest(id)), id)
    }
    assert.equal(server.stats.reclaimedUnserved, 3)
    assert.equal(server.stats.refusedBusy, 0)
    assert.equal(server.openConnections, 4)
  })

  it('a record that fails after the handshake (altered in transit) closes the connection, counted E_TAMPERED and logged at warn', async (t) => {
    const lines: string[] = []
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) })
    const { server, port } = await encryptedSeeder(t, 100_000, { limits: {}, log })
    const socket = await handshaken(t, port)
    socket.write(Buffer.concat([Buffer.of(40, 0, 0), Buffer.alloc(40, 7)])) // a record of 40 bytes no key sealed
    assert.ok(await until(() => server.stats.errors.E_TAMPERED === 1, 5000), JSON.stringify(server.stats.errors))
    assert.ok(await until(() => lines.some((l) => l.includes('connection failed') && l.includes('E_TAMPERED')), 5000))
  })

  it('bad frames after the handshake are counted, each, and logged through the log gate (every one was logged: ~340 MB an hour)', async (t) => {
    const lines: string[] = []
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) })
    const { server, port } = await encryptedSeeder(t, 100_000, { limits: {}, log })
    const began = performance.now()
    // Eight at a time (the address's cap is 16): each connection ends once the kernel sent its error, a poll or two.
    for (let batch = 0; batch < 5; batch++)
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          const stream = new NoiseSecretStream(true, connect({ host: '127.0.0.1', port }), {
            keyPair: NoiseSecretStream.keyPair(),
          })
          stream.on('error', () => undefined)
          await new Promise<void>((resolve) => stream.once('connect', () => resolve()))
          stream.write(Buffer.alloc(4)) // a frame header of length 0
          await new Promise<void>((resolve) => stream.once('close', () => resolve()))
        }),
      )
    const counted = Object.values(server.stats.errors).reduce((a, b) => a + b, 0)
    assert.equal(counted, 40, JSON.stringify(server.stats.errors))
    const bad = lines.filter((l) => l.includes('bad frame')).length
    // 20 lines an address per 10 s window, however many windows a slow machine took.
    const windows = Math.floor((performance.now() - began) / 10_000) + 1
    assert.ok(bad >= 1 && bad <= Math.min(39, 20 * windows), `${bad} "bad frame" lines for 40 from one address`)
  })

  it('refused connections (E_BUSY, or a plain client) that trickle bytes neither linger nor log without bound: 4 answered per address, each cut off a second after its refusal', async (t) => {
    const lines: string[] = []
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) })
    const { id, server, port } = await encryptedSeeder(t, 100_000, { limits: { maxConnectionsPerAddress: 2 }, log })
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port, localAddress: '127.0.2.9' }, () => resolve(socket))
        socket.on('error', reject)
      })
    const held = [await open(), await open()] // the address's cap
    const refused = await Promise.all(Array.from({ length: 40 }, open))
    const sockets = [...held, ...refused]
    const closedAt = new Map<Socket, number>()
    const started = performance.now()
    for (const socket of sockets) {
      socket.on('error', () => undefined)
      socket.on('close', () => closedAt.set(socket, performance.now() - started))
    }
    // The two admitted ones speak the plain protocol (a zero length prefix), the refused ones begin a 1 KiB
    // handshake message; then each sends a byte every 100 ms, enough to keep an idle timer from ever firing
    // (and the handshake from completing before its 10 s deadline).
    for (const socket of refused) socket.write(Buffer.of(0, 4, 0))
    const trickle = setInterval(() => {
      for (const socket of sockets) if (!socket.destroyed) socket.write(Buffer.of(held.includes(socket) ? 0 : 1))
    }, 100)
    onCleanup(t, () => {
      clearInterval(trickle)
      for (const socket of sockets) socket.destroy()
    })
    assert.ok(
      await until(() => refused.every((s) => closedAt.has(s)), 8000),
      `every refused socket closed by the server (${refused.filter((s) => closedAt.has(s)).length} of 40; unanswered ${server.stats.refusedUnanswered}, busy ${server.stats.refusedBusy}, open ${server.openConnections})`,
    )
    assert.equal(server.stats.refusedBusy, 40)
    assert.ok(
      server.stats.refusedUnanswered >= 36,
      `at most 4 answered at once (${server.stats.refusedUnanswered} unanswered)`,
    )
    // The handshake deadline is 10 s: a refused socket still open then was kept alive by the trickle.
    assert.ok(await until(() => held.every((s) => closedAt.has(s)), 8000), 'the plain ones closed, trickling or not')
    const latest = Math.max(...sockets.map((s) => closedAt.get(s)!))
    assert.ok(latest < 8000, `the last socket closed after ${Math.round(latest)} ms`)
    const refusals = lines.filter((line) => line.includes('connection refused')).length
    assert.ok(refusals <= 20, `${refusals} refusal lines for 40 refusals from one address`)
    const honest = await PeerClient.connect({
      host: '127.0.0.1',
      port,
      secure: { keyPair: NoiseSecretStream.keyPair() },
    })
    onCleanup(t, () => honest.close())
    assert.equal(sha256Hex(await honest.fetchManifest(id)), id, 'another address is served meanwhile')
  })

  it('a record begun after the handshake must be complete within the frame deadline (a byte at a time keeps no idle timer from firing); an honest peer is served meanwhile', async (t) => {
    const { id, server, port } = await encryptedSeeder(t, 100_000, {
      limits: { frameTimeoutMs: 500, idleTimeoutMs: 1000 },
    })
    const socket = await handshaken(t, port)
    let closed = false
    socket.on('close', () => {
      closed = true
    })
    // Under the session: a record claiming 65,553 bytes (the most allowed), then one byte every 100 ms.
    const started = performance.now()
    socket.write(Buffer.of(0x11, 0x00, 0x01))
    const trickle = setInterval(() => {
      if (!socket.destroyed) socket.write(Buffer.of(7))
    }, 100)
    onCleanup(t, () => clearInterval(trickle))
    const honest = await PeerClient.connect({
      host: '127.0.0.1',
      port,
      secure: { keyPair: NoiseSecretStream.keyPair() },
    })
    onCleanup(t, () => honest.close())
    assert.equal(sha256Hex(await honest.fetchManifest(id)), id, 'served while the trickle runs')
    assert.ok(await until(() => closed, 4000), 'the trickling connection was closed')
    const after = performance.now() - started
    t.diagnostic(`closed ${Math.round(after)} ms after its record began`)
    assert.ok(after >= 400 && after < 2500, `closed ${Math.round(after)} ms after its record began`)
    assert.ok(await until(() => server.stats.errors.E_TIMEOUT === 1, 2000), JSON.stringify(server.stats.errors))
    assert.equal(sha256Hex(await honest.fetchManifest(id)), id, 'and after it')
  })
})
