import assert from 'node:assert/strict'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { ChunkServer, type ServerLimits } from '../../src/core/transfer/chunk-server.js'
import { encodeFrame } from '../../src/core/transfer/framing.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'
import { silentSocket, until } from '../helpers/raw-client.js'

/** These tests open connections by the hundred from one address to try the caps; the arrival rate has its own tests. */
const ANY_RATE = { newConnectionsPerSecond: 1e6 }

/**
 * A server never lets go of a connection whose answers the kernel still
 * holds unsent, and never leaves them in an orphaned socket
 * (graceful-end.ts). Found by an attacker on loopback: 1,000 connections
 * from one address, each asking for a chunk, ending its half (FIN) and never
 * reading, were all admitted (the per-address cap is 16) and left 1,000
 * orphaned sockets holding ~1 GB of kernel memory past the idle timeout.
 * Orphans are counted here as the server port's sockets without a
 * descriptor (inode 0) in the kernel's table, so other tests running at the
 * same time do not count.
 */

const KiB = 1024
const MiB = 1024 * KiB
const linux = existsSync('/proc/net/tcp')

async function seeder(t: Cleanup, size: number, chunkSize: number, limits: Partial<ServerLimits>) {
  const dir = await tmpDir(t)
  const store = new ChunkStore(join(dir, 'chunks'))
  await store.init()
  await randomFile(join(dir, 'f.bin'), size)
  const split = await splitFile(join(dir, 'f.bin'), { store, chunkSize })
  const server = new ChunkServer({ store, host: '127.0.0.1', port: 0, limits: { ...ANY_RATE, ...limits } })
  const { port } = await server.listen()
  onCleanup(t, () => server.close(50))
  return { server, port, id: split.id }
}

/** The server port's orphaned sockets (no descriptor: inode 0; TIME_WAIT and the listener aside), and what they hold. */
function orphans(port: number): { sockets: number; unsent: number } {
  let sockets = 0
  let unsent = 0
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = existsSync(file) ? readFileSync(file, 'latin1') : ''
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10 || Number.parseInt(f[1]!.split(':')[1]!, 16) !== port) continue
      if (f[3] === '06' || f[3] === '0A' || f[9] !== '0') continue
      sockets++
      unsent += Number.parseInt(f[4]!.split(':')[0]!, 16)
    }
  }
  return { sockets, unsent }
}

/** Samples orphans every 20 ms until stopped (or the test ends): the most seen at once. */
function sampleOrphans(t: Cleanup, port: number): { stop: () => { sockets: number; unsent: number } } {
  const most = { sockets: 0, unsent: 0 }
  const timer = setInterval(() => {
    const now = orphans(port)
    most.sockets = Math.max(most.sockets, now.sockets)
    most.unsent = Math.max(most.unsent, now.unsent)
  }, 20)
  onCleanup(t, () => clearInterval(timer))
  return {
    stop: () => {
      clearInterval(timer)
      return most
    },
  }
}

/** `count` connections from `localAddress`, each sending `request`, ending its half at once and never reading. */
async function endAndNeverRead(t: Cleanup, port: number, localAddress: string, count: number, request: Buffer) {
  const sockets: Socket[] = []
  onCleanup(t, () => {
    for (const s of sockets) s.destroy()
  })
  for (let i = 0; i < count; i++) {
    const socket = connect({ host: '127.0.0.1', port, localAddress })
    socket.on('error', () => undefined)
    sockets.push(socket)
    await once(socket, 'connect')
    socket.pause()
    socket.end(request)
  }
  return sockets
}

describe('a server lets go of no connection whose answers the kernel still holds (graceful-end.ts)', {
  skip: !linux,
}, () => {
  for (const kind of ['chunk', 'manifest'] as const)
    it(`200 connections from one address, each a ${kind} request then FIN, never reading: at most the per-address cap admitted, no orphaned socket, all reset at the idle timeout`, async (t) => {
      const idleTimeoutMs = 3000
      // A manifest of 8,192 chunks (~550 KiB) is more than a client that does not read takes into its buffer.
      const s =
        kind === 'chunk'
          ? await seeder(t, 8 * MiB, MiB, { idleTimeoutMs })
          : await seeder(t, 8192 * 4 * KiB, 4 * KiB, { idleTimeoutMs })
      const request = encodeFrame(
        kind === 'chunk' ? { type: 'chunk', id: s.id, index: 0 } : { type: 'manifest', id: s.id },
      )
      const sampling = sampleOrphans(t, s.port)
      const began = performance.now()
      await endAndNeverRead(t, s.port, '127.0.9.1', 200, request)
      const opened = performance.now() - began
      const admitted = s.server.stats.connections
      assert.ok(
        opened > idleTimeoutMs || admitted <= s.server.limits.maxConnectionsPerAddress,
        `${admitted} admitted from one address within ${opened.toFixed(0)} ms (cap ${s.server.limits.maxConnectionsPerAddress})`,
      )
      assert.equal(s.server.stats.refusedBusy, 200 - admitted)
      assert.ok(
        await until(() => s.server.openConnections === 0, idleTimeoutMs + 3000),
        'every one cut by the idle timeout',
      )
      await new Promise((r) => setTimeout(r, 200))
      const most = sampling.stop()
      assert.ok(most.sockets <= 4, `at most a few orphans at once (seen ${most.sockets}, holding ${most.unsent} bytes)`)
      assert.ok(most.unsent < MiB, `orphans held ${most.unsent} bytes at most`)
      assert.equal(orphans(s.port).sockets, 0, 'none left')
      assert.equal(s.server.budget.inUse, 0)
    })

  it('a client that does not read is cut at the idle timeout (not twice it: Node skips a socket timeout while a write is under way), with a reset: no orphan', async (t) => {
    // Long enough that a loaded machine's delays (~1 s seen) stay well apart from the 2× the bug took.
    const idleTimeoutMs = 3000
    const s = await seeder(t, 10 * MiB, MiB, { idleTimeoutMs })
    for (const half of [false, true]) {
      const socket = await silentSocket(t, s.port)
      const requests = Buffer.concat(
        Array.from({ length: 10 }, (_, index) => encodeFrame({ type: 'chunk', id: s.id, index })),
      )
      const sent = performance.now()
      if (half) socket.end(requests)
      else socket.write(requests)
      assert.ok(await until(() => s.server.openConnections === 1, 2000), 'admitted')
      assert.ok(await until(() => s.server.openConnections === 0, 3 * idleTimeoutMs), 'cut')
      const cutAfter = performance.now() - sent
      t.diagnostic(`${half ? 'half-closed' : 'open'}: cut ${cutAfter.toFixed(0)} ms after its requests`)
      // Its last progress is the kernel taking what it can (the first moments); then the timeout, and a poll or two.
      assert.ok(cutAfter < 1.7 * idleTimeoutMs, `cut after ${cutAfter.toFixed(0)} ms (idle timeout ${idleTimeoutMs})`)
      await new Promise((r) => setTimeout(r, 100))
      assert.equal(orphans(s.port).sockets, 0, 'no orphan keeps its answers')
    }
  })
})
