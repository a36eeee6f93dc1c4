import assert from 'node:assert/strict'
import { rm, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { P2PError } from '../../src/core/errors.js'
import type { Manifest } from '../../src/core/manifest.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { ChunkServer } from '../../src/core/transfer/chunk-server.js'
import { encodeFrame } from '../../src/core/transfer/framing.js'
import type { Cleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'
import { checkAnswers, pipeline, type RawClient, rawClient, until } from '../helpers/raw-client.js'

/**
 * The connection state machine under random interleavings, on real sockets:
 * clients from three loopback addresses (one not reading) open connections, pipeline requests
 * (chunks, damaged and missing chunks, manifests, unknown ids, bad indices),
 * stop and resume reading, leave frames half-written, send garbage, reset,
 * half-close and close, while the idle and frame deadlines fire and the
 * server may close under them; every read goes through libuv's pool and
 * every chunk through the hash thread (no verification record), so a reset
 * lands in every phase of a response. Afterwards: every answer matches its
 * request and every chunk its hash, an honest client is served at once, and
 * once the connections are gone the budget is back to 0, every pooled buffer
 * was given back exactly once, none is in the pool twice, and no resource
 * was released twice.
 */

const KiB = 1024
const CHUNK = 256 * KiB
const CHUNKS = 48
const DAMAGED = 5
const MISSING = 7
const RUNS = Number(process.env.P2P_PROPERTY_RUNS ?? 25)

type Op =
  | { op: 'open'; client: number; host: number }
  | { op: 'chunks'; client: number; start: number; count: number }
  | { op: 'other'; client: number; kind: 'manifest' | 'unknown' | 'bad-index' | 'damaged' | 'missing' }
  | { op: 'pause' | 'resume' | 'partial' | 'garbage' | 'reset' | 'end' | 'destroy'; client: number }
  | { op: 'wait'; ms: number }

const client = fc.nat(3)
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('open' as const), client, host: fc.nat(2) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('chunks' as const),
      client,
      start: fc.nat(CHUNKS - 1),
      count: fc.integer({ min: 1, max: 40 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('other' as const),
      client,
      kind: fc.constantFrom(
        'manifest' as const,
        'unknown' as const,
        'bad-index' as const,
        'damaged' as const,
        'missing' as const,
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constantFrom(
        'pause' as const,
        'resume' as const,
        'partial' as const,
        'garbage' as const,
        'reset' as const,
        'end' as const,
        'destroy' as const,
      ),
      client,
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 60 }) }) },
)

interface Slot {
  raw: RawClient
  /** Sent a partial frame or garbage: nothing more is sent on it. */
  tainted: boolean
}

async function fixture(t: Cleanup) {
  const dir = await tmpDir(t)
  const store = new ChunkStore(join(dir, 'chunks'))
  await store.init()
  await randomFile(join(dir, 'f.bin'), CHUNKS * CHUNK - 1000)
  const split = await splitFile(join(dir, 'f.bin'), { store, chunkSize: CHUNK })
  const entry = (await store.get(split.id))!
  await rm(join(dir, 'chunks', '.p2p', 'verified'), { recursive: true, force: true }) // hash before every first serve
  await writeFile(store.chunkPath(entry.dir, DAMAGED), Buffer.alloc(CHUNK, 1))
  await unlink(store.chunkPath(entry.dir, MISSING))
  return { store, id: split.id, manifests: new Map<string, Manifest>([[split.id, entry.manifest as Manifest]]) }
}

async function play(
  t: Cleanup,
  f: Awaited<ReturnType<typeof fixture>>,
  ops: Op[],
  closeServer: boolean,
): Promise<void> {
  const violations: P2PError[] = []
  const server = new ChunkServer({
    store: f.store,
    host: '127.0.0.1',
    port: 0,
    syncReadBytes: 0,
    onViolation: (e) => violations.push(e),
    limits: {
      maxConnections: 8,
      maxConnectionsPerAddress: 2,
      maxInFlight: 8,
      maxBufferedBytes: 4 * CHUNK,
      idleTimeoutMs: 150,
      frameTimeoutMs: 100,
    },
  })
  const { port } = await server.listen()
  const slots: Array<Slot | undefined> = []
  const all: RawClient[] = []
  try {
    for (const o of ops) {
      if (o.op === 'wait') {
        await new Promise((r) => setTimeout(r, o.ms))
        continue
      }
      // A client's first op opens it (from the address of its number); 'open' opens it again after a close.
      if (!slots[o.client] || (o.op === 'open' && slots[o.client]!.raw.closed())) {
        // Client 3 starts as one that does not read (until a 'resume'): its answers back up in the socket.
        const raw = await rawClient(t, port, {
          localAddress: `127.0.0.${2 + (o.op === 'open' ? o.host : o.client % 3)}`,
          read: o.client !== 3,
        })
        all.push(raw)
        slots[o.client] = { raw, tainted: false }
        if (o.op === 'open') continue
      }
      const slot = slots[o.client]!
      if (o.op === 'open' || slot.raw.socket.destroyed) continue
      const { raw } = slot
      const sendable = !slot.tainted && raw.socket.writable
      switch (o.op) {
        case 'chunks':
          if (sendable)
            pipeline(
              raw,
              f.id,
              Array.from({ length: o.count }, (_, i) => (o.start + i) % CHUNKS),
            )
          break
        case 'other':
          if (!sendable) break
          if (o.kind === 'manifest') raw.send({ type: 'manifest', id: f.id })
          else if (o.kind === 'unknown') raw.send({ type: 'chunk', id: 'e'.repeat(64), index: 0 })
          else if (o.kind === 'bad-index') raw.send({ type: 'chunk', id: f.id, index: CHUNKS + 3 })
          else raw.send({ type: 'chunk', id: f.id, index: o.kind === 'damaged' ? DAMAGED : MISSING })
          break
        case 'partial':
          if (sendable) raw.socket.write(encodeFrame({ type: 'chunk', id: f.id, index: 1 }).subarray(0, 9))
          slot.tainted = true
          break
        case 'garbage':
          if (sendable) raw.socket.write(Buffer.from([0, 0, 0, 3, 0x7b, 0x7b, 0x7b]))
          slot.tainted = true
          break
        case 'pause':
          raw.socket.pause()
          break
        case 'resume':
          raw.socket.resume()
          break
        case 'reset':
          // Node 20: resetAndDestroy() after end() leaves the handle unclosed and the process spins at exit.
          if (raw.socket.writableEnded) raw.socket.destroy()
          else raw.socket.resetAndDestroy()
          break
        case 'end':
          raw.socket.end()
          slot.tainted = true
          break
        case 'destroy':
          raw.socket.destroy()
          break
      }
    }
    if (closeServer) {
      await server.close(30)
    } else {
      // Let every client still open read what it asked for (or be cut), then ask as an honest client.
      for (const raw of all) raw.socket.resume()
      await until(() => all.every((c) => c.closed() || c.frames.length >= c.sent.length), 3000)
      const honest = await rawClient(t, port, { localAddress: '127.0.0.9' })
      pipeline(honest, f.id, [0, 1, 2, 3, 10, 20])
      // What this guards is a wedge (a leaked grant or buffer: never served), so the bound is generous: at load 15 on
      // 2 cores this process, which plays server and every client, once needed over 5 s. Fairness between clients
      // is server-hardening's finding 8.
      assert.ok(
        await until(() => honest.frames.length >= 6, 30_000),
        `an honest client is served (got ${honest.frames.length} of 6)`,
      )
      assert.equal(checkAnswers(honest, f.manifests), 6)
    }
    for (const raw of all) checkAnswers(raw, f.manifests)
  } finally {
    for (const raw of all) raw.socket.destroy()
    await server.close(30)
  }
  assert.ok(await until(() => server.openConnections === 0, 3000), 'every connection is gone')
  // Jobs whose connection went away while their read ran give everything back when the read ends.
  await until(() => server.budget.inUse === 0 && server.buffers.outstanding === 0, 3000)
  assert.equal(server.budget.inUse, 0, 'budget back to 0')
  assert.equal(server.budget.waiting, 0, 'nobody waits for the budget')
  assert.equal(server.buffers.outstanding, 0, 'every pooled buffer given back')
  assert.equal(server.buffers.audit().duplicates, 0, 'no buffer in the pool twice')
  assert.deepEqual(
    violations.map((e) => e.message),
    [],
    'nothing released twice',
  )
  assert.equal(server.stats.violations, 0)
}

describe('chunk server connection state machine (property, real sockets)', () => {
  it('random interleavings of requests, slow reads, deadlines, resets and closes: every answer right, every resource back exactly once', async (t) => {
    const f = await fixture(t)
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 8, maxLength: 50 }), fc.boolean(), (ops, closeServer) =>
        play(t, f, ops, closeServer),
      ),
      { numRuns: RUNS, endOnFailure: true, includeErrorInReport: true },
    )
  })
})
